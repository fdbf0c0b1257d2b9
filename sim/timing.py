"""The one definition of how many cycles a GEMM's tiles take on a systolic PE array.

Everything that needs array cycles calls :func:`array_cycles`: the analytic path (vectorised over
numpy arrays of GEMMs), the event path (per tile) and the RTL checks (one tile, exact).

Model. The array has ``R`` rows and ``C`` columns. A GEMM C[m x n] += A[m x k] B[k x n] runs with
``k`` its executed (N:M-compressed) reduction length: a sparse PE holds one kept weight and its
M:1 multiplexer picks the matching activation, so one PE does one useful MAC per cycle.

Weight-stationary (WS): B tiles of up to R x C stay in the PEs (k on rows, n on columns); the m
rows of A stream in, one per cycle, skewed by one cycle per row; partial sums move down one row
per cycle and leave at the bottom edge into the output-buffer accumulator (latency ``L``), which
adds the partial sums of successive k-tiles. A streams in chunks of ``m_tile`` rows (so a chunk's
partial sums fit the output buffer); every chunk visits every weight tile. Per tile: preload
``min(R, k)`` cycles, stream ``m_tile`` cycles, skew ``(R - 1) + (nt - 1)`` (nt: used columns).

Output-stationary (OS): each PE accumulates one output (m on rows, n on columns) over the k
stream, skewed by ``(mt - 1) + (nt - 1)``; the PE's adder has latency ``L``, so a PE can issue a
dependent accumulation only every ``L`` cycles. Finished outputs shift out through the R rows
(``R`` cycles per tile), into shadow registers that let the next tile start.

Interleave mapping (SAT) off: tiles run one after another, each paying its fill and drain, and
an OS PE waits out the adder latency between dependent MACs. On: WS tiles stream back to back
(one fill/drain per GEMM; a tile whose stream is shorter than the next preload leaves a bubble),
with independent n-tiles placed between dependent k-tiles; OS runs ``g = min(L, tiles)`` tiles
round-robin (the last group takes the remainder, so a PE holds up to 2L - 1 accumulators), so
each PE issues a MAC every cycle; when a group's last sum is ready its outputs move to shadow
registers and shift out while the next group issues. Where the interleaved order would be
slower (tiles shorter than a preload or the adder latency), the sequential order is kept.
Without a weight double buffer, every WS preload is serial.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_int = np.int64


@dataclass(frozen=True)
class ArrayTiming:
    """Cycles split into MAC-issuing cycles and the two array-internal stall causes."""

    cycles: np.ndarray
    busy: np.ndarray         # cycles in which the array issues MACs
    fill_drain: np.ndarray   # preload, skew, accumulator and output drain
    acc_hazard: np.ndarray   # waits for the accumulator pipeline


def _cdiv(a, b):
    return -(-a // b)


def array_cycles(rows: int, cols: int, ws, m, n, k, acc_latency: int, interleave: bool,
                 weight_double_buffer: bool, m_tile=None) -> ArrayTiming:
    """Cycles of GEMM(s) ``m x n x k`` on an ``rows x cols`` array; ``ws`` True for weight-stationary.

    A weight-stationary GEMM streams A in chunks of ``m_tile`` rows (default: all m), each chunk
    visiting every weight tile. Array arguments broadcast; ``cycles == busy + fill_drain +
    acc_hazard`` always.
    """
    m, n, k = (np.asarray(v, _int) for v in (m, n, k))
    mc = m if m_tile is None else np.minimum(np.asarray(m_tile, _int), m)
    ws = np.asarray(ws, bool)
    R, C, L = _int(rows), _int(cols), _int(acc_latency)

    def timing(interleaved: bool) -> ArrayTiming:
        w_busy, w_fd, w_hz = _weight_stationary(R, C, m, mc, n, k, L, interleaved, weight_double_buffer)
        o_busy, o_fd, o_hz = _output_stationary(R, C, m, n, k, L, interleaved)
        busy, fill_drain, hazard = np.where(ws, w_busy, o_busy), np.where(ws, w_fd, o_fd), np.where(ws, w_hz, o_hz)
        return ArrayTiming(busy + fill_drain + hazard, busy, fill_drain, hazard)

    sequential = timing(False)
    if not interleave:
        return sequential
    # the interleave mapping is an extra option: where tiles too short to hide a preload or the
    # adder make back-to-back issue slower, the mapper keeps the sequential order
    mixed = timing(True)
    better = mixed.cycles <= sequential.cycles
    return ArrayTiming(*(np.where(better, a, b) for a, b in zip(
        (mixed.cycles, mixed.busy, mixed.fill_drain, mixed.acc_hazard),
        (sequential.cycles, sequential.busy, sequential.fill_drain, sequential.acc_hazard))))


def _weight_stationary(R, C, m, mc, n, k, L, interleave, double_buffer):
    tk, tn = _cdiv(k, R), _cdiv(n, C)
    chunks = _cdiv(m, mc)
    m_last = m - (chunks - 1) * mc
    per_chunk = tk * tn
    kt, nt = np.minimum(R, k), np.minimum(C, n)
    busy = per_chunk * m

    def over_chunks(cost):  # a per-tile cost that depends on the tile's stream length
        return (chunks - 1) * cost(mc) + cost(m_last)

    if interleave:
        if double_buffer:  # the next tile's preload hides behind this tile's stream, if long enough
            k_last = k - (tk - 1) * R

            def bubbles(s):  # one chunk's tiles, each preceded by a stream of s cycles
                return tn * ((tk - 1) * np.maximum(0, R - s) + np.maximum(0, k_last - s))

            preload = kt + over_chunks(bubbles) - np.maximum(0, kt - m_last)  # the first tile has no predecessor
        else:
            preload = chunks * tn * k
        skew = (R - 1) + (nt - 1)
        hazard = (tk - 1) * over_chunks(lambda s: np.maximum(0, L - s * tn))
    else:
        preload = kt if double_buffer else chunks * tn * k  # double-buffered preloads hide behind a tile
        skew = chunks * tk * (tn * (R - 2) + n)             # sum over tiles of (R - 1) + (nt - 1)
        hazard = (tk - 1) * tn * over_chunks(lambda s: np.maximum(0, L - (s + R + nt - 2)))
    return busy, preload + skew + L, hazard


def _output_stationary(R, C, m, n, k, L, interleave):
    tm, tn = _cdiv(m, R), _cdiv(n, C)
    tiles = tm * tn
    busy = tiles * k
    if not interleave:
        skew = tn * m + tm * n - 2 * tiles          # sum over tiles of (mt - 1) + (nt - 1)
        hazard = tiles * (k - 1) * (L - 1)
        return busy, skew + tiles * (L - 1 + R), hazard
    g = np.minimum(L, tiles)
    groups = np.maximum(1, tiles // g)
    g_last = tiles - (groups - 1) * g       # the last group absorbs the remainder: g <= g_last < 2g
    issue = (k - 1) * np.maximum(g, L) + g
    issue_last = (k - 1) * np.maximum(g_last, L) + g_last
    drain, drain_last = g * R, g_last * R
    # two-stage pipeline over groups (issue, then drain L - 1 after the last issue), one group
    # issuing while the previous drains: the makespan's critical path switches stage once
    full = groups - 1
    paths = full * issue + issue_last
    paths = np.where(full >= 1, np.maximum(paths, np.maximum(issue + full * drain, full * issue + drain)), paths)
    skew = (np.minimum(R, m) - 1) + (np.minimum(C, n) - 1)
    cycles = skew + paths + (L - 1) + drain_last
    hazard = full * issue + issue_last - busy
    return busy, cycles - busy - hazard, hazard
