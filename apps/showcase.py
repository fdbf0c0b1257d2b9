"""Regenerate every committed showcase report: ``python -m sparseloom.apps.showcase``.

- ``reports/showcase/sat_training.md``: BDWP 2:8 vs dense training on SAT (event fidelity);
- ``reports/showcase/sat_array/``: the array-shape sweep for SAT on ResNet-50 training;
- ``reports/showcase/sparsity/``: dense through 2:4, 2:8, 1:8, 1:16 to 1:32;
- ``reports/showcase/presets.md``: every preset on the same inference workloads;
- ``reports/showcase/llm/``: Llama-2-7B prefill and decode, dense vs N:M vs load-as-sparse.

The sweeps' raw results are not committed (they go to a temporary folder).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..explore.runner import run_sweep
from ..explore.spec import load_spec
from . import llm_showcase, presets, sat_training
from .sweep_report import write_report

REPO = Path(__file__).resolve().parent.parent
SHOWCASE = REPO / "reports" / "showcase"


def main() -> int:
    sat_training.main(["-o", str(SHOWCASE)])
    presets.main(["-o", str(SHOWCASE)])
    llm_showcase.main(["-o", str(SHOWCASE / "llm")])
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("sat_array", "sparsity"):
            spec = load_spec(REPO / "sweeps" / f"{name}.yaml")
            results = Path(tmp) / f"{name}.csv"
            run_sweep(spec, results)
            print(f"wrote {write_report(spec, results, SHOWCASE / name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
