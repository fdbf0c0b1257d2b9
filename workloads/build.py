"""Traces from the analytic layer tables, and the committed ones: ``python -m sparseloom.workloads.build [FOLDER]``.

Two sources: ``shapes`` (no masks: for a fixed N:M datapath the MAC count does not depend on
which weights are kept) and ``seeded`` (masks of reproducible random weights, pruned by magnitude
in each direction; the provenance records the seed, the versions and a checksum of the masks).
"""
from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ..arch.schema import NMPattern
from .masks import checksum, masks_bytes, seeded_masks
from .llm import llm_trace
from .models import MODELS, sparsify
from .network import ops_of, optimizer_of
from .trace import Provenance, Sparsity, Workload, WorkloadMeta, write_workload

SOURCES = ("shapes", "seeded")

# (trace folder, model, method, N:M, batch, source)
TRACES = [
    ("resnet50_2of8", "resnet50", "bdwp", "2:8", 32, "seeded"),
    ("resnet50_2of4", "resnet50", "bdwp", "2:4", 32, "shapes"),
    ("resnet50_1of8", "resnet50", "bdwp", "1:8", 32, "shapes"),
    ("resnet50_dense", "resnet50", "dense", "dense", 32, "shapes"),
    ("resnet18_2of8", "resnet18", "bdwp", "2:8", 32, "shapes"),
    ("resnet9_2of8", "resnet9", "bdwp", "2:8", 128, "shapes"),
    ("vgg19_2of8", "vgg19", "bdwp", "2:8", 128, "shapes"),
    ("deit_small_2of8", "deit_small", "bdwp", "2:8", 32, "shapes"),
]

# transformer traces (:func:`.llm.llm_trace`): (trace folder, model, mode, seq, decode steps, batch, method, N:M)
LLM_TRACES = [
    ("gpt2_small_2of4_prefill512", "gpt2_small", "inference", 512, 0, 1, "bdwp", "2:4"),
    ("llama2_7b_2of4_decode", "llama2_7b", "inference", 512, 128, 1, "bdwp", "2:4"),
]


def make_trace(name: str, model: str, method: str, nm: str, batch: int, source: str = "shapes",
               seed: int = 0, table=None) -> tuple[Workload, bytes | None]:
    """A training trace of ``model`` from its analytic layer table (or ``table``, a function
    returning layers, for an imported model), with seeded masks if asked. The table's operators
    (a :class:`~.network.Network`'s ``ops``; none for a plain list) and optimizer come along."""
    if table is None:
        table, dataset, shape = MODELS[model]
    else:
        dataset, shape = "unknown", []
    pattern = NMPattern.parse(nm)
    network = table()
    layers = sparsify(network, method, pattern)
    versions = {"sparseloom": version("sparseloom")}
    masks, blob, provenance = None, None, None
    if source == "seeded":
        masks = seeded_masks(layers, seed)
        blob = masks_bytes(masks)
        versions["numpy"] = np.__version__
        provenance = Provenance("seeded", f"random normal weights (RandomState(seed + layer index)) pruned by "
                                          f"magnitude per direction; masks checksum {checksum(masks)}", seed, versions)
    else:
        origin = f"analytic layer table sparseloom.workloads.models.{model}" if model in MODELS else f"imported from {model}"
        provenance = Provenance("none", origin, None, versions)
    label = "dense" if method == "dense" else f"{method.upper()} {pattern}"
    meta = WorkloadMeta(name=name, model=model, dataset=dataset, input_shape=shape, batch_size=batch, mode="training",
                        sparsity=Sparsity(method, str(pattern)), provenance=provenance,
                        description=f"{model} {label} training, {'seeded masks' if masks else 'shapes only'}",
                        optimizer=optimizer_of(network))
    return Workload(meta, layers, ops=ops_of(network)), blob


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).parent
    for spec in TRACES:
        workload, blob = make_trace(*spec)
        folder = write_workload(workload, root / spec[0], blob)
        print(f"wrote {folder}")
    for spec in LLM_TRACES:
        print(f"wrote {write_workload(llm_trace(*spec), root / spec[0])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
