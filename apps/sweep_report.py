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

from ..core.atomic import check_output
from ..core.bundled import resolve
from ..core.errors import InputError
from ..explore.evaluate import point_inputs
from ..explore.points import design_points
from ..explore.spec import SweepSpec, load_spec
from ..reports import sweep_report
from ..sim.results import Result
from ..sim.simulate import simulate
from .cli import add_version, run


def simulate_best(spec: SweepSpec, results: Path) -> Result | None:
    """One simulation of the point the report calls best, at the sweep's fidelity (None if none)."""
    row = sweep_report.best_point(spec, results)
    if row is None:
        return None
    point = next((p for p in design_points(spec) if p.key == row["key"]), None)
    if point is None:
        raise InputError(results, "", f"its best row ({row['key']}) is no point of {spec.name} as it is now (the spec, "
                                      "an arch, a trace or the version changed since): rerun the sweep")
    return simulate(*point_inputs(spec, point), spec.fidelity)


def write_report(spec: SweepSpec, results: Path, out: Path) -> Path:
    """The sweep report of ``results`` in ``out``, with the best point's per-layer breakdown."""
    return sweep_report.write_report(spec, results, out, simulate_best(spec, results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sweep_report", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="a bundled sweep spec's name or a spec file")
    parser.add_argument("results", type=Path, help="the sweep's results CSV")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write the report into")
    args = add_version(parser).parse_args(argv)

    def body() -> int:
        check_output(args.output, "-o", folder=True)
        if not args.results.is_file():
            raise InputError(args.results, "", "expected the sweep's results CSV, file not found")
        print(f"wrote {write_report(load_spec(resolve('sweep', args.spec)), args.results, args.output)}")
        return 0

    return run("sweep_report", body)


if __name__ == "__main__":
    raise SystemExit(main())
