"""The mapping search (offline scheduling): for every GEMM, the legal mapping the cost model
ranks first (fewest cycles, then array cycles, DRAM bytes, energy), with the full ranking kept.

Candidates: every dataflow the array supports; the interleave mapping on and off (where the
arch allows it); both loop orders (rows of A or columns of B outermost); the chunks each dataflow proposes (:meth:`Dataflow.chunk_candidates`: rows of A per
visit of the weight tiles, columns of B per visit of the input tiles, output tiles per
interleave group). The cost model is passed in by the caller, so this
package does not depend on the simulator. Deterministic: ties go to the earlier candidate.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..arch.schema import Arch
from .gemms import GemmTable
from .flows import FLOWS, per_flow, rows_of
from .tiling import max_chunk, tile_fits

Cost = Callable[[GemmTable], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Choice:
    candidates: GemmTable     # every legal candidate of every GEMM
    gemm: np.ndarray          # the GEMM row each candidate maps
    ranked: np.ndarray        # candidate indices by GEMM, best first
    best: np.ndarray          # per GEMM, index of its chosen candidate (-1: none is legal)
    keys: np.ndarray          # per candidate, the cost model's ranking keys (a column each, most important first)
    searched: np.ndarray      # per GEMM, the distinct GEMM searched for it (``gemm`` indexes these)

    def ranking(self, gemm: int) -> np.ndarray:
        """Candidate indices of one GEMM, best first."""
        return self.ranked[self.gemm[self.ranked] == self.searched[gemm]]

    def chosen(self, g: GemmTable) -> GemmTable:
        """Every GEMM of ``g`` under its chosen mapping."""
        return replace(self.candidates.take(self.best), layer=g.layer, phase=g.phase)


def search(g: GemmTable, arch: Arch, cost: Cost) -> Choice:
    """Rank every legal candidate mapping of every GEMM with ``cost``.

    ``g`` carries the default mapping, which is always a candidate: the search never does worse.
    GEMMs that differ only in their layer and phase are searched once.
    """
    searched, first = _distinct(g)
    choice = _search(g.take(first), arch, cost)
    return replace(choice, best=choice.best[searched], searched=searched)


def _distinct(g: GemmTable) -> tuple[np.ndarray, np.ndarray]:
    """Per GEMM the index of its distinct GEMM, and the first GEMM of each distinct one."""
    fields = [name for name in GemmTable.__dataclass_fields__ if name not in ("layer", "phase")]
    seen: dict[tuple, int] = {}
    searched = np.array([seen.setdefault(key, len(seen)) for key in zip(*(getattr(g, f).tolist() for f in fields))],
                        np.int64)
    first = np.unique(searched, return_index=True)[1]
    return searched, first


def _search(g: GemmTable, arch: Arch, cost: Cost) -> Choice:
    interleaves = (True, False) if arch.dataflow_options.interleave else (False,)
    combos = [(i, f, il) for i in range(len(g)) for f in arch.mapping_dataflows
              for il in (interleaves if FLOWS[f].mapping_options else (False,))]
    base = g.take(np.array([c[0] for c in combos], np.int64))
    flows = np.array([c[1] for c in combos])
    il = np.array([c[2] for c in combos], bool)
    base = base.mapped(flows, base.chunk, base.n_outer, il)
    extent = per_flow(flows, lambda f, i: f.chunk_extent(rows_of(base, i), arch))
    longest = max_chunk(base, arch)
    options = [(i, g.dataflow[i], int(g.chunk[i]), bool(g.n_outer[i]), bool(g.interleave[i])) for i in range(len(g))]
    for row, (i, f, interleave) in enumerate(combos):   # the defaults first: ties keep them
        lengths = FLOWS[f].chunk_candidates(int(extent[row]), int(longest[row]), arch)
        orders = (False, True) if FLOWS[f].mapping_options else (False,)
        options += [(i, f, length, n_outer, interleave) for n_outer in orders for length in lengths]
    unique = list(dict.fromkeys(options))                   # a default may repeat a searched one
    gemm = np.array([u[0] for u in unique], np.int64)
    candidates = g.take(gemm).mapped(np.array([u[1] for u in unique]), np.array([u[2] for u in unique], np.int64),
                                     np.array([u[3] for u in unique], bool), np.array([u[4] for u in unique], bool))
    legal = tile_fits(candidates, arch)
    candidates, gemm = candidates.take(np.flatnonzero(legal)), gemm[legal]
    keys = cost(candidates)
    order = np.lexsort(tuple(reversed(keys)) + (gemm,))      # by GEMM, then the keys in order
    first = np.ones(len(order), bool)
    first[1:] = gemm[order][1:] != gemm[order][:-1]
    best = np.full(len(g), -1, np.int64)
    best[gemm[order[first]]] = order[first]
    return Choice(candidates, gemm, order, best, np.column_stack(keys) if len(keys) else np.zeros((0, 0)),
                  np.arange(len(g)))
