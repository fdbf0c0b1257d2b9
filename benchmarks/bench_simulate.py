"""Time `simulate arch/sat.yaml workloads/resnet50_2of8` in both fidelities; prints medians.

    python benchmarks/bench_simulate.py [--runs N]

For each fidelity: the in-process time of one simulation of the training iteration (trace and
arch loaded once; what a sweep pays per point) and the wall time of the whole command (Python
start-up, imports, the simulation and the dense-training comparison); then the largest peak
resident memory of those commands.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sparseloom.arch.schema import load_arch
from sparseloom.sim.simulate import FIDELITIES, simulate
from sparseloom.workloads.trace import load_workload

ROOT = Path(__file__).resolve().parent.parent
ARCH, WORKLOAD = ROOT / "arch" / "sat.yaml", ROOT / "workloads" / "resnet50_2of8"

def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(fidelity: str) -> float:
    """Wall seconds of one `simulate` run in a fresh interpreter."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sparseloom.apps.simulate", str(ARCH), str(WORKLOAD), "--fidelity", fidelity],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    arch, workload = load_arch(ARCH), load_workload(WORKLOAD)
    cli_runs = max(3, args.runs // 3)
    print(f"SAT ({ARCH.name}), {WORKLOAD.name} (BDWP 2:8 training, batch {workload.meta.batch_size}); "
          f"{args.runs} in-process runs, {cli_runs} command runs")
    for fidelity in FIDELITIES:
        simulate(arch, workload, fidelity)  # warm-up
        one = median_seconds(lambda: simulate(arch, workload, fidelity), args.runs)
        wall = statistics.median(command(fidelity) for _ in range(cli_runs))
        print(f"{fidelity:>8}: simulate() median {one * 1e3:7.1f} ms | whole command median {wall:5.2f} s")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident memory of any command run: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
