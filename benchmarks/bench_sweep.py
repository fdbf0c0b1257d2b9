"""Sweep rate: `sweep sweeps/sat_array.yaml` (1,152 points of ResNet-50 training, analytic) from scratch.

    python benchmarks/bench_sweep.py [--workers N] [--runs R]

Prints the points per minute of each run and their median (results go to a temporary file).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sparseloom.explore.runner import run_sweep
from sparseloom.explore.spec import load_spec

SPEC = Path(__file__).resolve().parent.parent / "sweeps" / "sat_array.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="default: one per core")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    spec = load_spec(SPEC)
    rates = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            counts = run_sweep(spec, Path(tmp) / "r.csv", args.workers, progress=False)
            seconds = time.perf_counter() - start
        rates.append(counts["run"] / seconds * 60)
        print(f"run {run + 1}: {counts['run']} points ({counts['failed']} failed) in {seconds:.1f} s = {rates[-1]:,.0f} points/min")
    print(f"median: {statistics.median(rates):,.0f} points/min")


if __name__ == "__main__":
    main()
