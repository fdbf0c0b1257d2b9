"""Time `simulate arch/sat.yaml workloads/resnet50_2of8` (analytic fidelity); prints medians.

    python benchmarks/bench_simulate.py [--runs N]

Reports the in-process time of one simulation (load excluded; the number a sweep pays per
point), the same with the dense-training comparison the CLI adds, and the wall time of the whole
command including Python start-up and imports.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sparseloom.arch.schema import load_arch
from sparseloom.sim.simulate import simulate, speedup_over_dense
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    arch, workload = load_arch(ARCH), load_workload(WORKLOAD)
    simulate(arch, workload)  # warm-up
    one = median_seconds(lambda: simulate(arch, workload), args.runs)
    both = median_seconds(lambda: speedup_over_dense(arch, workload), args.runs)
    cli = median_seconds(lambda: subprocess.run([sys.executable, "-m", "sparseloom.sim.cli", str(ARCH), str(WORKLOAD)],
                                                check=True, capture_output=True), max(3, args.runs // 4))
    print(f"simulate(SAT, resnet50_2of8), analytic: median {one * 1e3:.1f} ms over {args.runs} runs")
    print(f"  + dense-training comparison (2 simulations): median {both * 1e3:.1f} ms")
    print(f"whole command incl. start-up and imports: median {cli:.2f} s over {max(3, args.runs // 4)} runs")


if __name__ == "__main__":
    main()
