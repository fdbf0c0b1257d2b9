"""Design points of a sweep: grid or seeded random sampling, each keyed by a fingerprint.

A point's key digests everything that determines its row: the resolved arch (the base arch's
contents with the fixed and varied values set), the trace folder's contents, the fixed and varied
values, the fidelity and the project version. A changed input is a new key, never a stale row.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from math import prod
from pathlib import Path

from ..core.provenance import VERSION, digest, folder_digest
from ..core.typed_yaml import read_yaml
from .spec import WORKLOAD_PARAMETERS, SweepSpec, with_values

SWITCHES = ("interleave", "pregenerate", "offline_schedule")


@dataclass(frozen=True)
class Point:
    key: str                 # the fingerprint (16 hex digits)
    workload: Path
    params: tuple            # ((path, value), ...) in the spec's parameter order
    arch_sha256: str = ""    # the resolved arch
    trace_sha256: str = ""   # the trace folder's files
    switches: tuple = ()     # the resolved dataflow_options, in SWITCHES order

    def provenance(self, spec: SweepSpec) -> dict:
        """The columns a results row carries about how it was made."""
        return {"fidelity": spec.fidelity, **dict(zip(SWITCHES, self.switches)), "version": VERSION,
                "arch_sha256": self.arch_sha256, "trace_sha256": self.trace_sha256}


def design_points(spec: SweepSpec) -> list[Point]:
    names = list(spec.parameters)
    values = [spec.parameters[n] for n in names]
    sizes = [len(v) for v in values]
    total = prod(sizes)
    if spec.sampling.method == "grid":
        combos = itertools.product(*values)
    else:  # without replacement from the grid (never materialised), reproducible from the seed
        picks = random.Random(spec.sampling.seed).sample(range(total), min(spec.sampling.points, total))
        combos = (tuple(values[i][_digit(p, sizes, i)] for i in range(len(sizes))) for p in picks)
    combos = list(combos)
    base = read_yaml(spec.arch_path())
    arch_settings = {k: v for k, v in spec.fixed.items() if k not in WORKLOAD_PARAMETERS}
    points = []
    for workload in spec.workload_paths():
        trace = folder_digest(workload)
        for combo in combos:
            params = tuple(zip(names, combo))
            settings = {**spec.fixed, **dict(params)}
            arch = with_values(base, {**arch_settings, **{k: v for k, v in params if k not in WORKLOAD_PARAMETERS}})
            arch_sha = digest(arch)
            options = arch.get("dataflow_options", {})
            key = digest([VERSION, spec.fidelity, arch_sha, trace, workload.name, sorted(settings.items())])[:16]
            points.append(Point(key, workload, params, arch_sha, trace, tuple(options.get(s) for s in SWITCHES)))
    return points


def _digit(index: int, sizes: list[int], position: int) -> int:
    """Mixed-radix digit ``position`` of ``index`` over the grid's axis sizes."""
    for size in sizes[position + 1:]:
        index //= size
    return index % sizes[position]
