"""CPU seconds of one in-process `simulate()` per fidelity on the issue's workloads; prints medians
and paired ratios.

    python benchmarks/bench_engines.py [--runs N] [--calls K] [--cases NAME ...] [--baseline SRC]

Cases: ResNet-50 BDWP 2:8 training on SAT (analytic, event), DeiT-Small 2:8 training at batch 512
(event), and a Llama-2-7B 2:4 training trace of 32 blocks at 4,096 tokens, batch 1 and 8
(analytic, event), and the committed Llama-2-7B 2:4 decode trace (event; its buffer ports stretch
every step). Each figure is the median over ``--runs`` of ``time.process_time`` around one
`simulate()` (the trace and arch loaded and the code warmed up once before), so it means the same
on a loaded machine as on a quiet one. Each run's call follows the other interpreter's (and, for an
event case, full stepping's), which leaves the processor's caches cold: ``--calls K`` makes each
run the median of K calls back to back, in each interpreter, what a call costs in a loop. For every event case the script also runs the engine with
``collapse=False`` (every instance and step simulated, the previous engine's way) in turn with the
collapsed one and prints the ratio pair by pair, and checks that both give the same totals.

``--baseline SRC`` also runs each case, in turn with this tree, in a second interpreter on another
checkout of sparseloom (e.g. ``git worktree add /tmp/base <commit>``; SRC is its root, with the
package folders ``core``, ``sim``, ...): the ratio is this tree's CPU seconds over the baseline's, pair
by pair, and ``same`` says whether the totals agree exactly.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from checkout import Baseline, benchmark_arguments, import_checkout

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "resnet50 analytic": ("resnet50", 32, "analytic"),
    "resnet50 event": ("resnet50", 32, "event"),
    "deit_small b512 event": ("deit_small", 512, "event"),
    "llama7b b1 analytic": ("llama", 1, "analytic"),
    "llama7b b1 event": ("llama", 1, "event"),
    "llama7b b8 analytic": ("llama", 8, "analytic"),
    "llama7b b8 event": ("llama", 8, "event"),
    "llama7b decode event": ("decode", None, "event"),
}


class _Runner:
    """Loads the traces and times simulations in this interpreter (whichever sparseloom it imports)."""

    def __init__(self):
        from sparseloom.arch.schema import load_arch
        from sparseloom.sim.simulate import simulate
        from sparseloom.workloads.llm import llm_trace
        from sparseloom.workloads.trace import load_workload

        self.simulate, self.arch = simulate, load_arch(ROOT / "arch" / "sat.yaml")
        llama = llm_trace("llama2_7b_2of4_training4096", "llama2_7b", "training", 4096, 0, 1, "bdwp", "2:4")
        self.workloads = {"resnet50": load_workload(ROOT / "workloads" / "resnet50_2of8"),
                          "deit_small": load_workload(ROOT / "workloads" / "deit_small_2of8"), "llama": llama,
                          "decode": load_workload(ROOT / "workloads" / "llama2_7b_2of4_decode")}
        self.warm: set = set()

    def run(self, case: str, collapse: bool = True, calls: int = 1) -> tuple[float, dict]:
        """The median CPU seconds of ``calls`` calls of ``case`` back to back, and its totals."""
        name, batch, fidelity = CASES[case]
        workload = self.workloads[name] if batch is None else self.workloads[name].with_batch(batch)
        if fidelity == "event" and not collapse:
            from sparseloom.sim.event import simulate_event

            def call():
                return simulate_event(self.arch, workload, collapse=False)
        else:
            def call():
                return self.simulate(self.arch, workload, fidelity)
        if (case, collapse) not in self.warm:
            call()
            self.warm.add((case, collapse))
        seconds = []
        for _ in range(calls):
            start = time.process_time()
            result = call()
            seconds.append(time.process_time() - start)
        return statistics.median(seconds), result.totals




def _worker(source: Path) -> None:
    """Serve case names on stdin with the sparseloom under ``source``: one JSON line per case."""
    import_checkout(source)
    runner = _Runner()
    for line in sys.stdin:
        case, calls = json.loads(line)
        seconds, totals = runner.run(case, calls=calls)
        print(json.dumps({"seconds": seconds, "totals": totals}), flush=True)


def _median_line(case: str, seconds: list[float], pairs: dict[str, tuple[list[float], bool]]) -> str:
    line = f"{case:>22}: median {statistics.median(seconds):8.4f} s CPU"
    for label, (ratios, same) in pairs.items():
        line += f" | / {label} median {statistics.median(ratios):6.3f} (same totals: {same})"
    return line


def main() -> None:
    args = benchmark_arguments(__doc__.splitlines()[0], 5, CASES, calls=True)
    if args.worker:
        return _worker(args.worker)
    runner = _Runner()
    baseline = Baseline(__file__, args.baseline) if args.baseline else None
    print(f"CPU seconds of one simulate() on SAT, median of {args.runs} runs"
          + (f" of the median of {args.calls} calls back to back" if args.calls > 1 else "")
          + (f"; baseline {args.baseline}" if baseline else ""))
    for case in args.cases:
        seconds, pairs = [], {}
        for _ in range(args.runs):
            this, totals = runner.run(case, calls=args.calls)
            seconds.append(this)
            if CASES[case][2] == "event":
                full, full_totals = runner.run(case, collapse=False, calls=args.calls)
                ratios, same = pairs.get("full stepping", ([], True))
                pairs["full stepping"] = (ratios + [this / full], same and full_totals == totals)
            if baseline:
                answer = baseline.ask(json.dumps([case, args.calls]))
                ratios, same = pairs.get("baseline", ([], True))
                pairs["baseline"] = (ratios + [this / answer["seconds"]], same and answer["totals"] == totals)
        print(_median_line(case, seconds, pairs), flush=True)
    if baseline:
        baseline.close()


if __name__ == "__main__":
    main()
