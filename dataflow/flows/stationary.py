"""Tile timing of a stationary-operand systolic array (weight- and input-stationary).

One operand's tile (``kt`` reduction rows x ``xt`` columns, ``kt <= R``, ``xt <= C``) sits in the
PEs; the other streams through, one vector per cycle, skewed by one cycle per row and column.
The streamed axis (length ``S``) runs in chunks of ``s`` vectors, and every chunk visits every
stationary tile (``tk`` k-tiles x ``tx`` column tiles). Partial sums leave the bottom row into
the output-buffer accumulator (latency ``L``), which adds the partial sums of successive k-tiles.

The machine, tile by tile (``S_i``: the cycle tile i's first vector enters; times from the first
preload's start):

- Preload: a stationary tile of ``kt`` rows takes ``p = preload(kt)`` cycles, shifted in from the
  top with the same column skew as the stream. With a double buffer the next tile loads into
  shadow registers from ``S_i`` on (each PE swaps when the next tile's first vector reaches it);
  without one it loads after tile i's stream has entered (``S_i + s``).
- Interleave mapping on: tiles go back to back in the order (k-tile outer, column tile inner), so
  ``tx`` independent column tiles separate two dependent k-tiles:
  ``S_{i+1} >= S_i + max(s, p_{i+1})`` (double buffer) or ``S_i + s + p_{i+1}``.
- Interleave off: each tile leaves the array before the next enters, in the order (column tile
  outer, k-tile inner): ``S_{i+1} >= S_i + s + R + xt_i - 2`` (+ ``p_{i+1}`` without a double
  buffer; with one, ``S_{i+1} >= S_i + p_{i+1}``).
- Accumulator hazard: a tile that adds to the partial sums of the previous k-tile of the same
  column tile and chunk waits until that one's adds are written: ``S_i >= S_dep + L``.
- A tile's last partial sum is written at ``S_i + s + xt + R - 2 + L``; the GEMM ends with the
  last of these.
- A MAC pipeline of ``P = mac_pipeline_stages`` registers (operand, product, ...) delays every
  product by ``D = P - 1`` cycles before the PE's adder. The stages sit before the partial-sum
  chain, so the rows still add one per cycle (the chain is not lengthened per row) and a
  dependent k-tile's sums arrive D later exactly as its predecessor's did (the hazard is
  unchanged): a partial sum leaves the bottom row D cycles later, which adds D once to the end
  (``+ D`` per GEMM) and, with interleave off, to every tile's drain before the next enters
  (``s + R + xt - 2 + D``: ``+ D`` per tile).

The functions below are this recurrence in closed form (all tiles of a k-tile share ``p``; only
the last k-tile and the last column tile are smaller), vectorised over GEMMs. Cycles never
decrease when S, the column extent or the reduction grows, and ``tests/test_timing.py`` checks
the closed form against the recurrence stepped tile by tile.
"""
from __future__ import annotations

import numpy as np

from .base import ArrayTiming, Dataflow, Machine, Shape, cdiv, distinct_ascending

_int = np.int64


def stationary_timing(machine: Machine, stream, columns, reduction, chunk, interleave, expand) -> ArrayTiming:
    """Cycles of GEMMs whose stationary tiles span ``reduction`` x ``columns`` and whose streamed
    axis is ``stream`` long, in chunks of ``chunk`` (<= 0: one chunk). ``expand`` (>= 1) is the
    number of dense rows loaded per executed stationary row (1 for a weight tile)."""
    R, C, L = _int(machine.rows), _int(machine.cols), _int(machine.acc_latency)
    mac = _int(machine.mac_delay)
    S, X, K = (np.asarray(v, _int) for v in (stream, columns, reduction))
    s = np.where(np.asarray(chunk) > 0, np.minimum(chunk, S), S).astype(_int, copy=False)
    expand = np.asarray(expand, float)
    on = np.asarray(interleave, bool)

    tk, tx, chunks = cdiv(K, R), cdiv(X, C), cdiv(S, s)
    s_last = S - (chunks - 1) * s
    x_last = X - (tx - 1) * C
    k_last = K - (tk - 1) * R

    def preload(rows):  # dense rows loaded for ``rows`` executed rows (rounding kept exact for integers)
        return rows if expand.ndim == 0 and expand == 1 else np.ceil(rows * expand - 1e-9).astype(_int)

    p_full, p_last = preload(np.minimum(R, K)), preload(k_last)
    p_first = np.where(tk >= 2, p_full, p_last)
    db = machine.weight_double_buffer
    busy = tk * tx * S

    def closed(form, rows):
        """(cycles, cycles free of the accumulator hazard) of GEMMs ``rows`` by one closed form, over
        both dependency latencies (L; 0: the same order with no accumulator constraint): axes
        (latency, GEMM)."""
        at = (s, s_last, tk, tx, x_last, p_full, p_last, p_first, chunks)
        s_, s_last_, tk_, tx_, x_last_, p_full_, p_last_, p_first_, chunks_ = (
            at if rows is ... else (v[rows] for v in np.broadcast_arrays(*at)))
        dep = np.array([L, 0], _int).reshape(2, 1, 1)
        span, gap, end = form(np.array([s_, s_last_]), tk_, tx_, x_last_, C, R, p_full_, p_last_, p_first_,
                              dep, db, L, mac)
        return p_first_ + (chunks_ - 1) * (span + gap) + end

    if on.all() or not on.any():          # one closed form per interleave choice
        cycles, free = closed(_interleaved if on.all() else _sequential, ...)
    else:
        cycles, free = np.zeros((2, *S.shape), _int)
        if on.ndim == 1 and on[-1] and (on[1:] >= on[:-1]).all():     # grouped: interleave off, then on
            off = slice(0, int(np.argmax(on)))
            parts = ((_interleaved, slice(off.stop, None)), (_sequential, off))
        else:
            parts = ((_interleaved, np.flatnonzero(on)), (_sequential, np.flatnonzero(~on)))
        for form, rows in parts:
            cycles[rows], free[rows] = closed(form, rows)
    return ArrayTiming(cycles, busy, free - busy, cycles - free)


def _gap(s, p, db):
    return np.maximum(s, p) if db else s + p


def _interleaved(s, tk, tx, x_last, C, R, p_full, p_last, p_first, dep, db, L, mac):
    """(first-to-last tile span of a full chunk, gap to the next chunk's first tile, end of the
    last chunk from its first tile); ``s``: (full, last) chunk lengths, ``dep``: (latency, 1, 1)."""
    P, Pl = _gap(s, p_full, db), _gap(s, p_last, db)
    multi = tk >= 2
    # the last k-tile group starts after the tk - 2 full groups before the one before it
    base = np.maximum(tk - 2, 0) * np.maximum(tx * P, dep)
    # start of column tile t in the last k-tile group: base + max((tx-1) P + (t+1) Pl, t P + dep)
    last = np.where(multi, base + (tx - 1) * P + np.maximum(tx * Pl, dep), (tx - 1) * Pl)      # t = tx - 1
    span = last[:, 0]
    P, Pl, base, last, dep = P[1], Pl[1], base[:, 1], last[:, 1], dep[:, 0]                  # the last chunk
    before = np.where(multi, base + np.maximum((tx - 1) * (P + Pl), (tx - 2) * P + dep), (tx - 2) * Pl)
    before = np.where(tx >= 2, before + C, 0)                                                # t = tx - 2
    end = np.maximum(last + x_last, before) + (s[1] + (R - 2 + L + mac))
    return span, _gap(s[0], p_first, db), end


def _sequential(s, tk, tx, x_last, C, R, p_full, p_last, p_first, dep, db, L, mac):
    """As :func:`_interleaved`, with the tiles one after another."""
    def base(drained, p):
        return np.maximum(drained, p) if db else drained + p

    multi, before_last = tk >= 2, tk - 2

    def within(drained):                              # k-tile to k-tile of one column tile
        return np.where(multi, before_last * np.maximum(base(drained, p_full), dep)
                        + np.maximum(base(drained, p_last), dep), 0)

    # a chunk's tile of C columns, then of the last column tile's, drained: s + R + xt - 2 + mac
    full, last = s + (C + (R - 2 + mac)), s + (x_last + (R - 2 + mac))
    span = (tx - 1) * (within(full) + base(full, p_first)) + within(last)
    return span[:, 0], base(last[0], p_first), span[:, 1] + (s[1] + x_last + (R - 2 + L + mac))


EXHAUSTIVE = 64        # chunks up to this length are all tried by the search
CHUNK_COUNTS = 16      # longer axes: the lengths that split it evenly into the fewest 16 counts


def chunk_lengths(extent, longest, rows: int) -> np.ndarray:
    """Per GEMM (a row each, :func:`distinct_ascending`), the chunk lengths worth trying for a
    streamed axis of ``extent`` units whose longest legal chunk is ``longest``: every one up to
    64, else the even splits into the fewest 16 chunk counts, the array's rows times powers of 2
    and the longest."""
    extent = np.asarray(extent, _int)[:, None]
    longest = np.maximum(1, np.minimum(extent, np.asarray(longest, _int)[:, None]))
    every = np.arange(1, EXHAUSTIVE + 1, dtype=_int)
    out = np.where(every <= longest, every, 0)                 # done where longest <= 64
    long = np.flatnonzero(longest[:, 0] > EXHAUSTIVE)
    if len(long):
        extent, longest = extent[long], longest[long]
        fewest = cdiv(extent, longest)
        even = cdiv(extent, fewest + np.arange(CHUNK_COUNTS, dtype=_int))        # all <= longest
        powers = _int(rows) << np.arange(min(40, int(longest.max() // rows).bit_length()), dtype=_int)
        split = distinct_ascending(np.concatenate([even, np.where(powers <= longest, powers, 0), longest], axis=1))
        out[long] = 0
        out[long, :split.shape[1]] = split                     # at most 16 + 40 + 1 <= 64 lengths
    return out


def longest_chunk(arch, per_unit_bytes, extent) -> np.ndarray:
    """The longest chunk whose partial sums fit the output buffer's usable capacity."""
    return np.clip(arch.buffer_for("output").usable_bytes // np.maximum(per_unit_bytes, 1), 0, extent).astype(_int)


class Stationary(Dataflow):
    """What weight- and input-stationary share: the machine above, with a ``stream`` axis (chunked,
    cut by event steps) and a ``columns`` axis (the stationary tile's width) taken from m and n."""

    columns_axis: str   # "n" or "m": the axis across the array's columns

    def stream(self, g):
        return g.m if self.stream_axis == "m" else g.n

    def columns(self, g):
        return g.m if self.columns_axis == "m" else g.n

    def expand(self, shape: Shape):
        """Dense rows preloaded per executed stationary row."""
        return 1.0

    def timing(self, machine: Machine, shape: Shape) -> ArrayTiming:
        return stationary_timing(machine, self.stream(shape), self.columns(shape), shape.k, shape.chunk,
                                 shape.interleave, self.expand(shape))

    def psum_bytes(self, g, arch):
        """Output-buffer bytes per chunk unit while its k-tiles accumulate: one column tile's
        partial sums one after another, every column tile's under the interleave mapping."""
        return np.where(g.interleave, self.columns(g), np.minimum(self.columns(g), arch.array.cols)) \
            * arch.accumulator_bytes

    def chunk_extent(self, g, arch):
        return self.stream(g).astype(_int)

    def max_chunk(self, g, arch):
        return longest_chunk(arch, self.psum_bytes(g, arch), self.stream(g))

    def chunk_candidates(self, extent, longest, arch):
        return chunk_lengths(extent, longest, arch.array.rows)

    def units_per_step(self, g, traffic, arch):
        return g.chunk

    def tiles_per_step(self, g, units, arch):
        return cdiv(g.k_eff, arch.array.rows) * cdiv(self.columns(g), arch.array.cols)
