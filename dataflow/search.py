"""The mapping search (offline scheduling): for every GEMM, the legal mapping the cost model
ranks first (fewest cycles, then DRAM bytes, then energy), with the full ranking kept.

Candidates: every dataflow the array supports; both loop orders (rows of A or columns of B
outermost); for weight-stationary, the chunk length ``m_tile`` (rows of A streamed per visit of
the weight tiles). Chunks up to 64 rows are all
tried; longer GEMMs try the chunk lengths that split m evenly into the fewest 16 chunk counts
the output buffer allows, and the multiples of the array's rows by powers of two. The cost model is passed in by the caller, so this
package does not depend on the simulator. Deterministic: ties go to the earlier candidate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..arch.schema import Arch
from .gemms import GemmTable
from .tiling import max_m_tile, tile_fits

EXHAUSTIVE_ROWS = 64
CHUNK_COUNTS = 16

Cost = Callable[[GemmTable], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Choice:
    candidates: GemmTable     # every legal candidate of every GEMM
    gemm: np.ndarray          # the GEMM row each candidate maps
    ranked: np.ndarray        # candidate indices by GEMM, best first
    best: np.ndarray          # per GEMM, index of its chosen candidate (-1: none is legal)

    def ranking(self, gemm: int) -> np.ndarray:
        """Candidate indices of one GEMM, best first."""
        return self.ranked[self.gemm[self.ranked] == gemm]


def chunk_lengths(m: int, longest: int, rows: int) -> list[int]:
    """Weight-stationary chunk lengths worth trying for a GEMM of ``m`` rows."""
    longest = max(1, min(m, longest))
    if longest <= EXHAUSTIVE_ROWS:
        return list(range(1, longest + 1))
    fewest = -(-m // longest)
    even = {-(-m // c) for c in range(fewest, fewest + CHUNK_COUNTS)}
    powers = {rows << j for j in range(0, 40) if rows << j <= longest}
    return sorted(even | powers | {longest})


def search(g: GemmTable, arch: Arch, cost: Cost) -> Choice:
    """Rank every legal candidate mapping of every GEMM with ``cost``.

    ``g`` carries the default mapping, which is always a candidate: the search never does worse.
    """
    longest = max_m_tile(g, arch)
    options = []
    for i in range(len(g)):
        options.append((i, g.dataflow[i], int(g.m_tile[i]), bool(g.n_outer[i])))  # the default first: ties keep it
        for flow in arch.array.dataflows:
            lengths = chunk_lengths(int(g.m[i]), int(longest[i]), arch.array.rows) if flow == "weight_stationary" \
                else [int(g.m[i])]
            options += [(i, flow, length, n_outer) for n_outer in (False, True) for length in lengths]
    unique = list(dict.fromkeys(options))                   # the default may repeat a searched one
    gemm = np.array([u[0] for u in unique], np.int64)
    candidates = g.take(gemm).mapped(np.array([u[1] for u in unique]), np.array([u[2] for u in unique], np.int64),
                                     np.array([u[3] for u in unique], bool))
    legal = tile_fits(candidates, arch)
    candidates, gemm = candidates.take(np.flatnonzero(legal)), gemm[legal]
    keys = cost(candidates)
    order = np.lexsort(tuple(reversed(keys)) + (gemm,))      # by GEMM, then cycles, bytes, energy
    first = np.ones(len(order), bool)
    first[1:] = gemm[order][1:] != gemm[order][:-1]
    best = np.full(len(g), -1, np.int64)
    best[gemm[order[first]]] = order[first]
    return Choice(candidates, gemm, order, best)
