"""Output-stationary: each PE accumulates one output; A streams from the left, B from the top.

An output tile is up to R rows of m by C columns of n; the k stream passes every PE, skewed by
``(mt - 1) + (nt - 1)``. The PE's adder has latency ``L``: without interleaving a PE issues a
dependent MAC only every ``L`` cycles and each tile runs alone (skew, issue, the last sum ``L - 1``
later, then ``R`` cycles shifting the outputs out). With SAT's interleave mapping the tiles run in
groups of ``g`` tiles (the mapping's ``chunk``; the last group holds the remainder; a group of
fewer than L tiles waits on the adder): a PE round-robins over the
group's accumulators, so it issues every cycle once ``g = L``; when a group's sums are ready they
move to shadow registers and shift out (``g R`` cycles) while the next group issues: a two-stage
pipeline with a lag of ``L - 1``.

A MAC pipeline of ``P = mac_pipeline_stages`` registers delays every product by ``D = P - 1``
cycles before the adder; the accumulation loop (accumulator, adder, accumulator) does not pass
through those stages, so a PE still issues a dependent MAC every ``L`` cycles and the sums are
only ready D cycles later: ``+ D`` per tile one after another (each waits for its predecessor's
outputs), ``+ D`` once to the flow shop's lag with interleave (``L - 1 + D``).

N:M: the compressed B row and its indices stream from the top; each PE's M:1 multiplexer picks
the activation of its kept weight among the M of the group, so the A stream carries every dense
input (M/N per executed step). The streamed axis is k; event steps are groups of m-tiles that
fit the input buffer.
"""
from __future__ import annotations

import numpy as np

from .base import ArrayTiming, Dataflow, Machine, Reuse, Shape, cdiv, distinct_ascending


class OutputStationary(Dataflow):
    name, short, title = "output_stationary", "OS", "output-stationary"
    stream_axis, area_proxy = "m", "output_stationary"
    chunk_meaning = "output tiles per interleave group"

    def timing(self, machine: Machine, shape: Shape) -> ArrayTiming:
        R, C, L = np.int64(machine.rows), np.int64(machine.cols), np.int64(machine.acc_latency)
        D = np.int64(machine.mac_delay)
        m, n, k = shape.m, shape.n, shape.k
        tm, tn = cdiv(m, R), cdiv(n, C)
        tiles = tm * tn
        busy = tiles * k
        skew_first = (np.minimum(R, m) - 1) + (np.minimum(C, n) - 1)
        # sequential: every tile alone; sum over tiles of its skew (mt - 1) + (nt - 1)
        seq_hazard = tiles * (k - 1) * (L - 1)
        seq_cycles = busy + (tn * m + tm * n - 2 * tiles) + tiles * (L - 1 + D + R) + seq_hazard
        # interleaved: groups of ``chunk`` tiles (default L), the last one the remainder
        g = np.minimum(np.where(shape.chunk > 0, shape.chunk, L), tiles)
        groups = cdiv(tiles, g)
        g_last = tiles - (groups - 1) * g
        issue, issue_last = (k - 1) * np.maximum(g, L) + g, (k - 1) * np.maximum(g_last, L) + g_last
        drain, drain_last = g * R, g_last * R
        full = groups - 1
        # two-machine flow shop (issue, then drain L - 1 later): the critical path switches from
        # the issue stage to the drain stage after one of the groups; with equal full groups the
        # longest path switches after the first or after the last full group, or never
        path = np.maximum(issue + full * drain, full * issue + drain) + drain_last
        path = np.where(full >= 1, np.maximum(path, full * issue + issue_last + drain_last),
                        issue_last + drain_last)
        int_cycles = skew_first + path + (L - 1 + D)
        int_hazard = full * (issue - g * k) + (issue_last - g_last * k)
        interleave = shape.interleave
        cycles = np.where(interleave, int_cycles, seq_cycles)
        hazard = np.where(interleave, int_hazard, seq_hazard)
        return ArrayTiming(cycles, busy, cycles - busy - hazard, hazard)

    def chunk_extent(self, g, arch):
        return (cdiv(g.m, arch.array.rows) * cdiv(g.n, arch.array.cols)).astype(np.int64)

    def max_chunk(self, g, arch):
        return self.chunk_extent(g, arch)

    def default_chunk(self, g, arch):
        """Groups as even as possible with at least L tiles each (one group if fewer tiles)."""
        tiles, L = self.chunk_extent(g, arch), arch.array.accumulator_latency_cycles
        return cdiv(tiles, np.maximum(1, tiles // L)).astype(np.int64)

    def chunk_candidates(self, extent, longest, arch):
        L = arch.array.accumulator_latency_cycles
        extent = np.asarray(extent, np.int64)[:, None]
        balanced = cdiv(extent, np.maximum(1, extent // L))
        return distinct_ascending(np.concatenate([np.minimum(np.arange(1, 2 * L), extent), balanced, extent], axis=1))

    def reuse(self, g, arch, a_bytes, b_bytes, b_stream) -> Reuse:
        R, C = arch.array.rows, arch.array.cols
        tm, tn = cdiv(g.m, R), cdiv(g.n, C)
        # rows of A outermost: an m-tile's A rows are reused across the n-tiles, B walked per m-tile;
        # columns of B outermost: an n-tile's B columns are reused, A walked per n-tile
        a_block = np.where(g.n_outer, a_bytes, a_bytes * np.minimum(g.m, R) / g.m)
        b_block = np.where(g.n_outer, b_bytes / tn, b_bytes)
        out = g.m * g.n * arch.accumulator_bytes
        return Reuse(a_block, tn, b_block, tm, tn * g.m * g.k * arch.operand_bytes, tm * b_stream,
                     out, np.zeros_like(out))

    def smallest_tile_bytes(self, g, arch):
        a, op = arch.array, arch.operand_bytes
        expand = np.ceil(g.k / np.maximum(g.k_eff, 1))          # the M candidates of an N:M group
        return {"input": np.minimum(a.rows, g.m) * expand * op,
                "weight": np.minimum(a.cols, g.n) * (op + g.meta_bits / 8),
                "output": np.zeros(len(g.m))}

    def units_per_step(self, g, traffic, arch):
        a_per_tile = traffic.a_read * arch.array.rows / g.m
        tiles = np.maximum(1, arch.buffer_for("input").usable_bytes // np.maximum(a_per_tile, 1)).astype(np.int64)
        return arch.array.rows * tiles

    def tiles_per_step(self, g, units, arch):
        return cdiv(units, arch.array.rows) * cdiv(g.n, arch.array.cols)

    def describe(self, g, arch):
        R, C = arch.array.rows, arch.array.cols
        order = "columns of B outermost" if g.n_outer[0] else "rows of A outermost"
        groups = f"interleaved in groups of {int(g.chunk[0])}" if g.interleave[0] else "one after another"
        return (f"output-stationary, {-(-int(g.m[0]) // R)} x {-(-int(g.n[0]) // C)} output tiles "
                f"({groups}), K={int(g.k_eff[0]):,} streamed, {order}")
