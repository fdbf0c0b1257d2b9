"""CPU seconds of `simulate arch/sat.yaml workloads/resnet50_2of8` in both fidelities; prints medians.

    python benchmarks/bench_simulate.py [--runs N] [--baseline SRC]

For each fidelity: one in-process simulation of the training iteration (trace and arch loaded
once; what a sweep pays per point) and the whole command in a fresh interpreter (Python start-up,
imports, the simulation and the dense-training comparison); then the import of the command's
modules alone (and of its simulation and report modules), and the largest peak resident memory of those commands. In-process figures are
``time.process_time``; a command's are its user + system CPU seconds (``RUSAGE_CHILDREN``), so they
mean the same on a loaded machine as on a quiet one. ``--baseline SRC`` (the root of another
checkout, e.g. ``git worktree add /tmp/base <commit>``) also runs every command on that checkout,
in turn with this tree's, and prints the paired ratio this / baseline.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from checkout import shim
from sparseloom.arch.schema import load_arch
from sparseloom.sim.simulate import FIDELITIES, simulate
from sparseloom.workloads.trace import load_workload

ROOT = Path(__file__).resolve().parent.parent
ARCH, WORKLOAD = ROOT / "arch" / "sat.yaml", ROOT / "workloads" / "resnet50_2of8"
IMPORTS = {"the command": "import sparseloom.apps.simulate",
           "its simulation and report modules": "import sparseloom.sim.simulate, sparseloom.sim.run, sparseloom.sim.ablation, "
                                                "sparseloom.reports.table, sparseloom.reports.explain, sparseloom.reports.run"}


def median_cpu(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def command_cpu(argv: list[str], path: Path | None = None) -> float:
    """User + system CPU seconds of one fresh interpreter running ``argv`` (``path``: first on its path)."""
    env = dict(os.environ, PYTHONPATH=str(path)) if path else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *argv], check=True, capture_output=True, env=env, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def paired(argv: list[str], runs: int, baseline: Path | None) -> str:
    """The median CPU seconds of ``argv``, and with a baseline the median of the paired ratios."""
    this, ratios = [], []
    for _ in range(runs):
        this.append(command_cpu(argv))
        if baseline:
            ratios.append(this[-1] / command_cpu(argv, baseline))
    line = f"median {statistics.median(this):5.3f} s CPU"
    return line + (f" | / baseline median {statistics.median(ratios):5.3f}" if baseline else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="root of another sparseloom checkout to compare with")
    args = parser.parse_args()
    baseline = shim(args.baseline.resolve()) if args.baseline else None
    arch, workload = load_arch(ARCH), load_workload(WORKLOAD)
    cli_runs = max(5, args.runs // 3)
    print(f"SAT ({ARCH.name}), {WORKLOAD.name} (BDWP 2:8 training, batch {workload.meta.batch_size}); "
          f"{args.runs} in-process runs, {cli_runs} command runs" + (f"; baseline {args.baseline}" if baseline else ""))
    for fidelity in FIDELITIES:
        simulate(arch, workload, fidelity)  # warm-up
        one = median_cpu(lambda: simulate(arch, workload, fidelity), args.runs)
        whole = paired(["-m", "sparseloom.apps.simulate", str(ARCH), str(WORKLOAD), "--fidelity", fidelity],
                       cli_runs, baseline)
        print(f"{fidelity:>8}: simulate() median {one * 1e3:6.1f} ms CPU | whole command {whole}")
    for what, code in IMPORTS.items():
        print(f" imports of {what}: {paired(['-c', code], cli_runs, baseline)}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident memory of any command run: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
