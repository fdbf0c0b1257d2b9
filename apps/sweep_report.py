"""The sweep report: Pareto fronts, sensitivity plots and the best point's per-layer breakdown,
as markdown and HTML with the plots beside them.

    python -m sparseloom.apps.sweep_report SPEC.yaml RESULTS.csv -o DIR

The driver: it re-simulates the best point of the results (the per-layer breakdown needs its
rows, which the results CSV does not hold) and hands it to the renderer
``sparseloom.reports.sweep_report``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..explore.evaluate import point_inputs
from ..explore.points import design_points
from ..explore.spec import SweepSpec, load_spec
from ..reports import sweep_report
from ..sim.results import Result
from ..sim.simulate import simulate


def simulate_best(spec: SweepSpec, results: Path) -> Result | None:
    """One simulation of the point the report calls best, at the sweep's fidelity (None if none)."""
    row = sweep_report.best_point(spec, results)
    if row is None:
        return None
    point = next(p for p in design_points(spec) if p.key == row["key"])
    return simulate(*point_inputs(spec, point), spec.fidelity)


def write_report(spec: SweepSpec, results: Path, out: Path) -> Path:
    """The sweep report of ``results`` in ``out``, with the best point's per-layer breakdown."""
    return sweep_report.write_report(spec, results, out, simulate_best(spec, results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    print(f"wrote {write_report(load_spec(args.spec), args.results, args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
