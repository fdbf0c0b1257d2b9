"""Regenerate the committed shape-only traces: ``python -m sparseloom.workloads.build [FOLDER]``.

These traces come from the analytic layer tables (:mod:`.models`); they carry no masks, so their
provenance says ``masks: none``: for a fixed N:M datapath the MAC count does not depend on which
weights are kept.
"""
from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

from ..arch.schema import NMPattern
from .models import MODELS, sparsify
from .trace import Provenance, Sparsity, Workload, WorkloadMeta, write_workload

# (trace folder, model, method, N:M, batch)
TRACES = [
    ("resnet50_2of8", "resnet50", "bdwp", "2:8", 32),
    ("resnet50_2of4", "resnet50", "bdwp", "2:4", 32),
    ("resnet50_dense", "resnet50", "dense", "dense", 32),
    ("resnet18_2of8", "resnet18", "bdwp", "2:8", 32),
    ("resnet9_2of8", "resnet9", "bdwp", "2:8", 128),
    ("vgg19_2of8", "vgg19", "bdwp", "2:8", 128),
    ("deit_small_2of8", "deit_small", "bdwp", "2:8", 32),
]


def shape_trace(name: str, model: str, method: str, nm: str, batch: int) -> Workload:
    """A training trace of ``model`` from its analytic layer table."""
    table, dataset, shape = MODELS[model]
    pattern = NMPattern.parse(nm)
    meta = WorkloadMeta(
        name=name, model=model, dataset=dataset, input_shape=shape, batch_size=batch, mode="training",
        sparsity=Sparsity(method, str(pattern)),
        provenance=Provenance("none", f"analytic layer table sparseloom.workloads.models.{model}",
                              versions={"sparseloom": version("sparseloom")}),
        description=f"{model} {'dense' if method == 'dense' else method.upper() + ' ' + str(pattern)} training, shapes only",
    )
    return Workload(meta, sparsify(table(), method, pattern))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).parent
    for spec in TRACES:
        folder = write_workload(shape_trace(*spec), root / spec[0])
        print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
