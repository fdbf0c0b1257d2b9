"""The mapping search (offline scheduling): for every GEMM, the legal mapping the cost model
ranks first (fewest cycles, then array cycles, DRAM bytes, energy), with the full ranking kept.

Candidates: every dataflow the array supports; the interleave mapping on and off (where the
arch allows it); both loop orders (rows of A or columns of B outermost); the chunks each dataflow proposes (:meth:`Dataflow.chunk_candidates`: rows of A per
visit of the weight tiles, columns of B per visit of the input tiles, output tiles per
interleave group). The cost model is passed in by the caller, so this
package does not depend on the simulator. Deterministic: ties go to the earlier candidate.

The search costs in two stages: a cheap lower bound on every candidate's first key, then the
full keys of only the candidates that bound cannot rule out (:func:`_best`); the full ranking of
every candidate (:attr:`Choice.ranked`, for ``--explain``) is costed when first read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable, Protocol

import numpy as np

from ..arch.schema import Arch
from ..core.reuse import reused
from .gemms import GemmTable
from .flows import CODES, FLOWS, per_flow, rows_of
from .tiling import chunk_fits, legal_limits, tile_fits


class Costing(Protocol):
    """The cost model's evaluation of one candidate table, in two stages."""

    lower: np.ndarray
    """Per candidate, a lower bound on its first ranking key (never above it)."""

    def keys(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """The ranking keys (a column each, most important first) of the candidates ``rows``
        (ascending indices)."""


Cost = Callable[[GemmTable, np.ndarray], Costing]
"""The cost model: the :class:`Costing` of the candidates, given also, per candidate, the first
candidate that maps its GEMM alike but for the loop order (itself if none does): the tile timing
does not depend on the loop order, so the cost may time those once."""


@dataclass(frozen=True)
class Choice:
    candidates: GemmTable     # every legal candidate of every GEMM (its columns gathered when first read)
    gemm: np.ndarray          # the GEMM row each candidate maps
    best: np.ndarray          # per GEMM, index of its chosen candidate (-1: none is legal)
    costing: Costing          # the cost model's evaluation of the candidates
    searched: np.ndarray      # per GEMM, the distinct GEMM searched for it (``gemm`` indexes these)

    @cached_property
    def key_columns(self) -> tuple[np.ndarray, ...]:
        """Per candidate, the cost model's ranking keys (a column each, most important first),
        every candidate costed on first read."""
        return tuple(self.costing.keys(np.arange(len(self.gemm))))

    @cached_property
    def ranked(self) -> np.ndarray:
        """Candidate indices by GEMM, best first (ties: the earlier candidate)."""
        return np.lexsort(tuple(reversed(self.key_columns)) + (self.gemm,))

    @cached_property
    def keys(self) -> np.ndarray:
        """Per candidate, its ranking keys (a column each, most important first)."""
        return np.column_stack(self.key_columns) if len(self.key_columns) else np.zeros((0, 0))

    def ranking(self, gemm: int) -> np.ndarray:
        """Candidate indices of one GEMM, best first."""
        return self.ranked[self.gemm[self.ranked] == self.searched[gemm]]

    def chosen(self, g: GemmTable) -> GemmTable:
        """Every GEMM of ``g`` under its chosen mapping."""
        return self.candidates.take(self.best, layer=g.layer, phase=g.phase)


CANDIDATE_INPUTS = ("array.rows", "array.cols", "array.dataflows", "array.operand_dtype", "array.accumulator_dtype",
                    "array.accumulator_latency_cycles", "buffers.holds", "buffers.size_kib", "buffers.double_buffered",
                    "dataflow_options.interleave", "vector_engine.runs_gemms", "vector_engine.lanes")
"""The arch values the candidates read (:func:`~sparseloom.core.reuse.reused`): their legality and
chunks, not their timing (the PE's pipeline depth, its weight double buffer)."""


def search(g: GemmTable, arch: Arch, cost: Cost) -> Choice:
    """Rank every legal candidate mapping of every GEMM with ``cost``.

    ``g`` carries the default mapping, which is always a candidate: the search never does worse.
    GEMMs that differ only in their layer and phase are searched once.
    """
    searched, first, *candidates = reused("candidates", (g,), arch, CANDIDATE_INPUTS,
                                          lambda: _distinct_candidates(g, arch))
    choice = _choose(*candidates, len(first), cost)
    return replace(choice, best=choice.best[searched], searched=searched)


def _distinct_candidates(g: GemmTable, arch: Arch) -> tuple:
    """:func:`_distinct`, and the :func:`_candidates` of the distinct GEMMs."""
    searched, first = _distinct(g)
    return searched, first, *_candidates(g.take(first), arch)


def _distinct(g: GemmTable) -> tuple[np.ndarray, np.ndarray]:
    """Per GEMM the index of its distinct GEMM, and the first GEMM of each distinct one."""
    columns = [getattr(g, name) for name in GemmTable.__dataclass_fields__ if name not in ("layer", "phase")]
    seen: dict = {}
    searched = np.array([seen.setdefault(key, len(seen)) for key in _row_keys(columns)], np.int64)
    first = np.unique(searched, return_index=True)[1]
    return searched, first


def _row_keys(columns: list[np.ndarray]) -> list:
    """Per row a hashable key, equal for rows whose values are all equal: the bytes of its numbers
    as int64 (floats by their bits, -0.0 as 0.0) and of its text, or where a column holds objects
    or NaNs the tuple of its values."""
    if not len(columns[0]) or any(c.dtype == object or (c.dtype.kind == "f" and np.isnan(c).any()) for c in columns):
        return list(zip(*(c.tolist() for c in columns)))
    numbers = np.array([(c.astype(np.float64) + 0.0).view(np.int64) if c.dtype.kind == "f" else c.astype(np.int64)
                        for c in columns if c.dtype.kind not in "US"]).T
    raw = np.concatenate([np.ascontiguousarray(numbers).view(np.uint8)]
                         + [c.view(np.uint8).reshape(len(c), -1) for c in columns if c.dtype.kind in "US"], axis=1)
    return raw.view(f"V{raw.shape[1]}").ravel().tolist()


def _search(g: GemmTable, arch: Arch, cost: Cost) -> Choice:
    """Every GEMM of ``g`` searched on its own."""
    return _choose(*_candidates(g, arch), len(g), cost)


def _choose(candidates: GemmTable, gemm: np.ndarray, same_timing: np.ndarray, n: int, cost: Cost) -> Choice:
    costing = cost(candidates, same_timing)
    return Choice(candidates, gemm, _best(gemm, costing, n), costing, np.arange(n))


def _best(gemm: np.ndarray, costing: Costing, n: int) -> np.ndarray:
    """:func:`_first_best` of every candidate, with the full keys of only some: those whose lower
    bound reaches their GEMM's least bound, then, if the least first key ``U`` they give is
    above it, every candidate whose bound is at most ``U``. A candidate left out has a first key
    of at least its bound, above ``U``, which a costed candidate of its GEMM reaches: it ranks
    strictly below, so the choice (ties to the earlier candidate included) is the same."""
    lower = costing.lower
    rows = np.flatnonzero(lower <= _least(gemm, lower, n)[gemm])
    keys = costing.keys(rows)
    more = np.flatnonzero(lower <= _least(gemm[rows], keys[0], n)[gemm])
    if len(more) > len(rows):
        rows, keys = more, costing.keys(more)
    return np.append(rows, -1)[_first_best(gemm[rows], keys, n)]     # -1 stays -1


def _least(of: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per GEMM (``0..n-1``), the least of its ``values`` (NaN ignored; the dtype's largest where none)."""
    least = np.full(n, _largest(values.dtype), values.dtype)
    np.fmin.at(least, of, values)
    return least


def _first_best(gemm: np.ndarray, keys: tuple[np.ndarray, ...], n: int) -> np.ndarray:
    """Per GEMM (``0..n-1``), its candidate with the smallest keys compared in order, the earliest
    of equals (what :attr:`Choice.ranked` puts first), -1 where it has none: each key in turn
    keeps the candidates that reach their GEMM's least value of it."""
    live = np.arange(len(gemm))
    for key in keys:
        values, of = key[live], gemm[live]
        least = _least(of, values, n)          # a NaN key ranks last, as in the sort
        live = live[values == least[of]]
    best = np.full(n, len(gemm), np.int64)
    np.minimum.at(best, gemm[live], live)
    return np.where(best < len(gemm), best, -1)


def _largest(dtype: np.dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def _candidates(g: GemmTable, arch: Arch) -> tuple[GemmTable, np.ndarray, np.ndarray]:
    """Every legal candidate mapping of every GEMM (a table whose columns are gathered, and its
    dataflows' names made, when first read), the GEMM each maps and the first candidate that
    differs from it at most in the loop order: the defaults first (ties keep them), then per GEMM,
    per dataflow and interleave choice, per loop order, its chunk lengths, except the one that
    repeats the default. A combination (GEMM, dataflow, interleave) fixes the smallest tile and
    the longest chunk, so legality is found once per combination, the defaults' too."""
    interleaves = (True, False) if arch.dataflow_options.interleave else (False,)
    pairs = [(f, il) for f in arch.mapping_dataflows for il in (interleaves if FLOWS[f].mapping_options else (False,))]
    combo_gemm = np.repeat(np.arange(len(g)), len(pairs))
    codes = np.tile(np.array([CODES[f] for f, _ in pairs], np.int8), len(g))
    il = np.tile(np.array([i for _, i in pairs], bool), len(g))
    base = rows_of(g, combo_gemm, flow_code=codes, interleave=il)        # the dataflows' names made when read
    longest, fits = legal_limits(base, arch)
    # a row per combo, padded with 0
    lengths = per_flow(codes, lambda f, i: f.chunk_candidates(f.chunk_extent(rows_of(base, i), arch), longest[i], arch))
    count = (lengths > 0).sum(axis=1)
    flat = lengths[lengths > 0]                                      # combo by combo, ascending
    of = np.repeat(np.arange(len(count)), count)                     # each length's combo
    # per length and loop order (rows of A outermost, then columns of B): legal and not its GEMM's
    # default, the only repeat (each dataflow's chunk lengths are distinct)
    as_default = (codes == g.flow_code.take(combo_gemm)) & (il == g.interleave[combo_gemm])
    legal = fits[of] & chunk_fits(flat, longest[of])
    repeats = as_default[of] & (flat == g.chunk[combo_gemm[of]])
    default_outer = g.n_outer[combo_gemm[of]]
    kept = np.concatenate([legal & ~(repeats & ~default_outer), legal & ~(repeats & default_outer)])
    orders = np.tile(np.array([2 if FLOWS[f].mapping_options else 1 for f, _ in pairs], np.int64), len(g))
    per_combo = orders * count
    combo = np.repeat(np.arange(len(count)), per_combo)              # each combo: loop orders x lengths
    offset = np.arange(len(combo)) - np.repeat(np.cumsum(per_combo) - per_combo, per_combo)
    lengths_here = count[combo]
    n_outer = offset >= lengths_here
    at = (np.cumsum(count) - count)[combo] + np.where(n_outer, offset - lengths_here, offset)   # a combo's n-th length
    keep = np.flatnonzero(kept[at + n_outer * len(flat)])
    at, n_outer, picked = at[keep], n_outer[keep], combo[keep]
    own = np.flatnonzero(as_default)         # per GEMM, the combination of its default (if each has one)
    legal = (fits[own] & chunk_fits(g.chunk, longest[own])) if len(own) == len(g) else tile_fits(g, arch)
    default = np.flatnonzero(legal)
    gemm = np.concatenate([default, combo_gemm[picked]])
    mapping = dict(flow_code=np.concatenate([g.flow_code.take(default), codes.take(picked)]),
                   chunk=np.concatenate([g.chunk[default], flat[at]]).astype(np.int64, copy=False),
                   n_outer=np.concatenate([g.n_outer[default], n_outer]).astype(bool, copy=False),
                   interleave=np.concatenate([g.interleave[default], il[picked]]).astype(bool, copy=False))
    # the loop orders of one combination and length share ``at``; each default is its own
    alike = np.concatenate([len(flat) + np.arange(len(default)), at])
    first = np.full(len(flat) + len(default), len(alike))
    np.minimum.at(first, alike, np.arange(len(alike)))
    return rows_of(g, gemm, **mapping), gemm, first[alike]
