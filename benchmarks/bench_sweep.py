"""Sweep cost: CPU seconds per design point, where they go, and points per minute.

    python benchmarks/bench_sweep.py [--specs sat_array sparsity] [--points N] [--runs R] [--workers N]
                                     [--baseline SRC]

Specs: ``sat_array`` (ResNet-50 BDWP 2:8 training on SAT: array shape, buffers, DRAM channels, clock,
MAC stages) and ``sparsity`` (ResNet-50 re-pruned from dense to 1:32, training and inference). Each run
sweeps the spec's whole grid, as ``sweep sweeps/<spec>.yaml`` does (1,152 and 324 points), or with
``--points N`` a seeded random sample of N of its points (the same every run), from scratch into a temporary file with :func:`~sparseloom.explore.runner.run_sweep`, as
``sweep`` does, in a fresh interpreter (sparseloom imported before the clock starts; nothing kept from
an earlier run), and prints the median over ``--runs`` of the figures below. Points that share an
array and buffers share most of a simulation's stages (:mod:`sparseloom.core.reuse`): a grid has
several per setting (sat_array 9, of its DRAM channels and clocks), a sample of 200 of sat_array's
1,152 points about 2, so a sample's points cost more.

- CPU per point: the run's CPU seconds (``time.process_time`` of its process plus the user and system
  time of its finished worker processes) over its points; it means the same on a loaded machine as on a
  quiet one, unlike the wall-clock points/min printed beside it;
- CPU per simulated point: the same CPU over the points that reached ``simulate()`` (a point clocked
  above its PE's fmax or larger than its FPGA fails before it, in microseconds), an upper bound on
  what a point that is simulated costs (counted with one worker only: with several, in the workers);
- with one worker (the default; the points are evaluated in the run's process), where a point's CPU goes:
  ``simulate()``, the rest of evaluating it (arch and workload, area, power, metrics) and the runner
  (spec expansion and fingerprints, writing, ordering the results file).

``--baseline SRC`` also runs each spec, run by run in turn with this tree, on another checkout of
sparseloom (e.g. ``git worktree add /tmp/base <commit>``; SRC is its root): the ratio
is this tree's CPU per point over the baseline's, pair by pair, and ``same results`` says whether the two
results files are byte-identical.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from checkout import shim

ROOT = Path(__file__).resolve().parent.parent
SPECS = ("sat_array", "sparsity")


class _Timed:
    """Wraps a function and adds the CPU seconds of its calls to ``seconds``."""

    def __init__(self, function):
        self.function, self.seconds, self.calls = function, 0.0, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        start = time.process_time()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.process_time() - start


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run(spec_name: str, points: int, workers: int) -> dict:
    """One sweep from scratch with the sparseloom this interpreter imports; CPU seconds and counts."""
    from sparseloom.explore import evaluate, runner
    from sparseloom.explore.spec import Sampling, load_spec

    spec = load_spec(ROOT / "sweeps" / f"{spec_name}.yaml")
    if points:
        spec = replace(spec, sampling=Sampling("random", points, 0))
    simulate, evaluate_many = _Timed(evaluate.simulate), _Timed(evaluate.evaluate_many)
    evaluate.simulate, runner.evaluate_many = simulate, evaluate_many
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "r.csv"
            wall, cpu = time.perf_counter(), _cpu()
            counts = runner.run_sweep(spec, out, workers, progress=False)
            cpu, wall = _cpu() - cpu, time.perf_counter() - wall
            results = hashlib.sha256(out.read_bytes()).hexdigest()
    finally:
        evaluate.simulate, runner.evaluate_many = simulate.function, evaluate_many.function
    n = counts["run"]
    parts = None
    if workers == 1:
        parts = {"simulate": simulate.seconds / n, "evaluate, rest": (evaluate_many.seconds - simulate.seconds) / n,
                 "runner": (cpu - evaluate_many.seconds) / n}
    simulated = simulate.calls if workers == 1 else None     # the workers' calls are not counted here
    return {"points": n, "failed": counts["failed"], "simulated": simulated, "cpu": cpu / n,
            "cpu_simulated": cpu / max(simulated or 0, 1), "per_min": n / wall * 60, "parts": parts, "results": results}


def _worker(source: Path, request: str) -> None:
    """Print the JSON of one run (``request``: :func:`run`'s arguments) with the sparseloom under ``source``."""
    top = str(shim(source))
    sys.path.insert(0, top)
    import sparseloom.explore.runner  # imported before the clock starts

    if not sparseloom.explore.runner.__file__.startswith(top):
        raise SystemExit(f"sparseloom was imported from {sparseloom.explore.runner.__file__}, not {source}")
    print(json.dumps(run(**json.loads(request))))


def _fresh(source: Path, name: str, points: int, workers: int) -> dict:
    request = json.dumps({"spec_name": name, "points": points, "workers": workers})
    done = subprocess.run([sys.executable, __file__, "--worker", str(source.resolve()), request],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", choices=SPECS, default=list(SPECS))
    parser.add_argument("--points", type=int, default=0, help="a random sample of N points per run (0, the default: the whole grid)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1: in this process)")
    parser.add_argument("--baseline", type=Path, help="root of another sparseloom checkout to compare with")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(Path(args.worker[0]), args.worker[1])
    print(f"sweep cost, median of {args.runs} runs of {args.points or 'all'} points, {args.workers} worker(s)"
          + (f"; baseline {args.baseline}" if args.baseline else ""))
    for name in args.specs:
        mine, theirs = [], []
        for _ in range(args.runs):
            mine.append(_fresh(ROOT, name, args.points, args.workers))
            if args.baseline:
                theirs.append(_fresh(args.baseline, name, args.points, args.workers))
        _print(name, mine, theirs)


def _print(name: str, mine: list[dict], theirs: list[dict]) -> None:
    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    print(f"{name}: {mine[0]['points']} points ({mine[0]['failed']} failed): CPU per point {_ms(median(mine, 'cpu'))}, "
          f"{median(mine, 'per_min'):,.0f} points/min wall-clock")
    if mine[0]["simulated"] is not None:
        print(f"  {mine[0]['simulated']} points simulated (the others failed before: a clock above fmax, a design "
              f"larger than its FPGA): CPU per simulated point {_ms(median(mine, 'cpu_simulated'))}")
    if mine[0]["parts"]:
        parts = {k: statistics.median(r["parts"][k] for r in mine) for k in mine[0]["parts"]}
        print("  per point: " + ", ".join(f"{k} {_ms(v)}" for k, v in parts.items()))
    if theirs:
        ratio = statistics.median(m["cpu"] / t["cpu"] for m, t in zip(mine, theirs))
        same = all(m["results"] == t["results"] for m, t in zip(mine, theirs))
        print(f"  baseline: CPU per point {_ms(median(theirs, 'cpu'))}, {median(theirs, 'per_min'):,.0f} points/min; "
              f"this / baseline median {ratio:.3f} (same results: {same})")
        if theirs[0]["parts"]:
            parts = {k: statistics.median(r["parts"][k] for r in theirs) for k in theirs[0]["parts"]}
            print("  baseline per point: " + ", ".join(f"{k} {_ms(v)}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
