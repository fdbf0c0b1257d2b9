"""Regenerate every showcase report: ``python -m sparseloom.apps.showcase [-o DIR]``.

Into DIR (default ``reports/showcase`` under the current folder: in a checkout, the committed
showcases):

- ``sat_training.md``: BDWP 2:8 vs dense training on SAT (event fidelity);
- ``sat_array/``: the array-shape sweep for SAT on ResNet-50 training;
- ``sparsity/``: dense through 2:4, 2:8, 1:8, 1:16 to 1:32;
- ``presets.md``: every preset on the same inference workloads.

The sweeps' raw results are not kept (they go to a temporary folder).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..core.atomic import check_output
from ..core.bundled import resolve
from ..explore.runner import run_sweep
from ..explore.spec import load_spec
from . import llm_showcase, presets, sat_training
from .cli import add_version, run
from .sweep_report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="showcase", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=sat_training.OUTPUT,
                        help=f"folder to write into (default {sat_training.OUTPUT})")
    args = add_version(parser).parse_args(argv)

    def body() -> int:
        check_output(args.output, "-o", folder=True)
        for step in (sat_training.main, presets.main):
            if step(["-o", str(args.output)]):
                return 1
        if llm_showcase.main(["-o", str(args.output / "llm")]):
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("sat_array", "sparsity"):
                spec = load_spec(resolve("sweep", name))
                results = Path(tmp) / f"{name}.csv"
                run_sweep(spec, results)
                print(f"wrote {write_report(spec, results, args.output / name)}")
        return 0

    return run("showcase", body)


if __name__ == "__main__":
    raise SystemExit(main())
