"""``sweep SPEC``: run a design-space sweep (a bundled spec's name or a spec file), appending results
as points finish; Ctrl-C keeps every finished row and the same command resumes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.atomic import check_output
from ..core.bundled import resolve
from ..core.errors import InputError
from ..explore.runner import MAX_WORKERS, run_sweep
from ..explore.spec import load_spec
from .cli import add_version, refuse, run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep", description=__doc__.split(": ", 1)[1].strip())
    p.add_argument("spec", help="a bundled sweep spec (sat_array; `simulate --list`) or a spec file")
    p.add_argument("-o", "--output", type=Path, help="results CSV (default: results/<spec name>.csv); "
                                                      "an existing one of the same inputs is resumed")
    p.add_argument("--fresh", action="store_true", help="replace an existing results file instead of resuming it")
    p.add_argument("--workers", type=int, help=f"local worker processes, 1 to {MAX_WORKERS} (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster at ADDRESS instead")
    p.add_argument("--timing", type=Path, metavar="FILE",
                   help="also append each point's wall-clock seconds to FILE (kept out of the results, "
                        "which are byte-identical across runs)")
    p.add_argument("--report", type=Path, metavar="DIR", help="then write the sweep report (markdown, HTML, plots) into DIR")
    return add_version(p)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run("sweep", lambda: _run(args))


def _run(args) -> int:
    refuse({"--workers": args.workers is not None and args.scheduler}, "--scheduler (the cluster has its workers)")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise InputError("--workers", "", f"expected 1 to {MAX_WORKERS} worker processes, got {args.workers}")
    if args.report:
        check_output(args.report, "--report", folder=True)
    spec = load_spec(resolve("sweep", args.spec))
    out = args.output or Path("results") / f"{spec.name}.csv"
    counts = run_sweep(spec, out, args.workers, args.scheduler, progress=True, fresh=args.fresh, timing=args.timing)
    print(f"{spec.name}: {counts['points']} points; ran {counts['run']}, skipped {counts['skipped']} "
          f"already in {out}, {counts['failed']} failed")
    if args.report:
        from .sweep_report import write_report

        print(f"wrote {write_report(spec, out, args.report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
