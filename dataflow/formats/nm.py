"""N:M: N values kept in every group of M along the reduction, each with a ceil(log2 M)-bit index
(or the arch's fixed index width). Executed length and metadata need no mask: for a fixed N:M
datapath the MAC count does not depend on which weights are kept. Masks are checked against
the pattern where they are loaded (``workloads.masks``)."""
from __future__ import annotations

import math

from ...arch.schema import NMPattern


def reduction(length: int, reps: int, pattern: NMPattern) -> int:
    """Reduction length after N:M compression of ``reps`` runs of ``length`` grouped elements."""
    if pattern.dense:
        return length * reps
    return reps * (-(-length // pattern.m)) * pattern.n


def index_bits(pattern: NMPattern, fixed: int | None = None) -> int:
    """Metadata bits per kept value: ``fixed`` if the hardware states one, else ceil(log2 M)."""
    if pattern.dense:
        return 0
    return fixed if fixed is not None else math.ceil(math.log2(pattern.m))

