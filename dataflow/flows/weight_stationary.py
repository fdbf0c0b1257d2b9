"""Weight-stationary: a B tile (k on the rows, n on the columns) stays in the PEs; the rows of A
stream through, in chunks of ``chunk`` rows that each visit every weight tile.

N:M: a PE holds one kept weight and its index; its M:1 multiplexer picks the matching activation
among the M of its group, so a tile of R executed rows covers R M/N dense inputs, every one of
which streams past (the A stream is dense). Timing: :mod:`.stationary` with the weights'
``kt`` rows preloaded in ``kt`` cycles. A chunk keeps its partial sums in the output buffer while
the k-tiles accumulate: one column tile's worth (``chunk x C``) when the tiles run one after
another, every column tile's (``chunk x n``) under the interleave mapping.
"""
from __future__ import annotations

import numpy as np

from .base import Reuse, cdiv
from .stationary import Stationary


class WeightStationary(Stationary):
    name, short, title = "weight_stationary", "WS", "weight-stationary"
    stream_axis, columns_axis, area_proxy = "m", "n", "weight_stationary"
    chunk_meaning = "rows of A per visit of the weight tiles"

    def default_chunk(self, g, arch):
        by_output = arch.buffer_for("output").usable_bytes // self.psum_bytes(g, arch)
        a_bytes = g.a_elems * arch.operand_bytes
        by_input = arch.buffer_for("input").usable_bytes * g.m // np.maximum(a_bytes, 1)
        # a chunk shorter than the array's rows would wait on every preload: refetch A instead
        by_input = np.maximum(by_input, arch.array.rows)
        return np.clip(np.minimum(by_output, by_input), 1, g.m).astype(np.int64)

    def reuse(self, g, arch, a_bytes, b_bytes, b_stream) -> Reuse:
        R, C, acc = arch.array.rows, arch.array.cols, arch.accumulator_bytes
        tk, tn = cdiv(g.k_eff, R), cdiv(g.n, C)
        chunks = cdiv(g.m, g.chunk)
        # rows of A outermost: a chunk's A rows are reused across the n-tiles (fetched once if they
        # fit), B walked again per chunk; columns of B outermost: B's column block is reused
        # across the chunks, A walked per n-tile
        a_block = np.where(g.n_outer, a_bytes, a_bytes * g.chunk / g.m)
        b_block = np.where(g.n_outer, b_bytes / tn, b_bytes)
        out = g.m * g.n * acc
        return Reuse(a_block, tn, b_block, chunks, tn * g.m * g.k * arch.operand_bytes, chunks * b_stream,
                     tk * out, (tk - 1) * out)

    def smallest_tile_bytes(self, g, arch):
        a, op = arch.array, arch.operand_bytes
        expand = g.k / np.maximum(g.k_eff, 1)                  # dense inputs behind one executed row
        rows, cols = np.minimum(a.rows, g.k_eff), np.minimum(a.cols, g.n)
        return {"input": np.ceil(rows * expand) * op,
                "weight": rows * cols * (op + g.meta_bits / 8),
                "output": self.psum_bytes(g, arch)}

    def describe(self, g, arch):
        R, C = arch.array.rows, arch.array.cols
        chunks = -(-int(g.m[0]) // int(g.chunk[0]))
        order = "columns of B outermost" if g.n_outer[0] else "rows of A outermost"
        tiles = "interleaved, back to back" if g.interleave[0] else "one after another"
        return (f"weight-stationary, A in {chunks} chunk(s) of {int(g.chunk[0]):,} rows, "
                f"{-(-int(g.k_eff[0]) // R)} x {-(-int(g.n[0]) // C)} weight tiles ({tiles}), {order}")
