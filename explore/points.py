"""Design points of a sweep: grid or seeded random sampling, each with a stable key."""
from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from math import prod
from pathlib import Path

from .spec import SweepSpec


@dataclass(frozen=True)
class Point:
    key: str                 # stable across runs: the workload and the parameter values
    workload: Path
    params: tuple            # ((path, value), ...) in the spec's parameter order


def design_points(spec: SweepSpec) -> list[Point]:
    names = list(spec.parameters)
    values = [spec.parameters[n] for n in names]
    sizes = [len(v) for v in values]
    total = prod(sizes)
    if spec.sampling.method == "grid":
        combos = itertools.product(*values)
    else:  # without replacement from the grid, reproducible from the seed
        picks = random.Random(spec.sampling.seed).sample(range(total), min(spec.sampling.points, total))
        combos = (tuple(values[i][_digit(p, sizes, i)] for i in range(len(sizes))) for p in picks)
    combos = list(combos)
    points = []
    for workload in spec.workload_paths():
        for combo in combos:
            params = tuple(zip(names, combo))
            ident = json.dumps([workload.name, [[n, v] for n, v in params]], sort_keys=True, default=str)
            points.append(Point(hashlib.sha1(ident.encode()).hexdigest()[:16], workload, params))
    return points


def _digit(index: int, sizes: list[int], position: int) -> int:
    """Mixed-radix digit ``position`` of ``index`` over the grid's axis sizes."""
    for size in sizes[position + 1:]:
        index //= size
    return index % sizes[position]
