"""``sweep SPEC.yaml``: run a design-space sweep, appending results as points finish."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import InputError
from ..explore.runner import run_sweep
from ..explore.spec import load_spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sweep", description=__doc__.split(": ", 1)[1].strip())
    p.add_argument("spec", help="sweep spec, e.g. sweeps/sat_array.yaml")
    p.add_argument("-o", "--output", type=Path, help="results CSV (default: results/<spec name>.csv); "
                                                      "an existing one is resumed")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster at ADDRESS instead")
    p.add_argument("--report", type=Path, metavar="DIR", help="then write the sweep report (markdown, HTML, plots) into DIR")
    args = p.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        out = args.output or Path("results") / f"{spec.name}.csv"
        counts = run_sweep(spec, out, args.workers, args.scheduler)
        print(f"{spec.name}: {counts['points']} points; ran {counts['run']}, skipped {counts['skipped']} "
              f"already in {out}, {counts['failed']} failed")
        if args.report:
            from .sweep_report import write_report

            print(f"wrote {write_report(spec, out, args.report)}")
    except InputError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
