"""Input-stationary: an A tile (k on the rows, m on the columns) stays in the PEs; the columns of
B stream through, in chunks of ``chunk`` columns that each visit every input tile.

It is weight-stationary with the operands' roles swapped (:mod:`.stationary`: stream = n,
columns = m), except for what N:M sparsity means when the weights are the streamed operand:

- B streams compressed: each column of B (a filter) carries its own N kept values per group of M
  with their ceil(log2 M)-bit indices, so the stream, and the weight traffic, shrink by N/M.
- Array row r executes kept slot r of the column's groups. Which of its group's M inputs a kept
  weight multiplies differs per filter, so the PE must hold all M candidate inputs of its group
  (M registers; the streamed index drives its M:1 multiplexer) instead of one. A tile of R
  executed rows therefore holds R M/N dense rows of A: the preload loads every dense row once,
  broadcast to the N array rows of its group, and takes ``ceil(kt M/N)`` cycles, M/N times a
  dense tile's. Back-to-back tiles need streams at least that long, so at high sparsity input-
  stationary tiles wait on their own preload where weight-stationary ones do not.
- The output buffer keeps a chunk's partial sums (``chunk x C`` one column tile at a time,
  ``chunk x m`` under the interleave mapping), as for weight-stationary.

No RTL is generated for it; the area model prices its PEs as weight-stationary ones (one
multiplier, an M:1 multiplexer and M operand registers each).
"""
from __future__ import annotations

import numpy as np

from .base import Reuse, Shape, cdiv
from .stationary import Stationary


class InputStationary(Stationary):
    name, short, title = "input_stationary", "IS", "input-stationary"
    stream_axis, columns_axis, area_proxy = "n", "m", "weight_stationary"
    chunk_meaning = "columns of B per visit of the input tiles"

    def expand(self, shape: Shape):
        return shape.k_dense / np.maximum(shape.k, 1)

    def default_chunk(self, g, arch):
        by_output = arch.buffer_for("output").usable_bytes // self.psum_bytes(g, arch)
        return np.clip(by_output, 1, g.n).astype(np.int64)

    def reuse(self, g, arch, a_bytes, b_bytes, b_stream) -> Reuse:
        R, C, acc = arch.array.rows, arch.array.cols, arch.accumulator_bytes
        tk, tm = cdiv(g.k_eff, R), cdiv(g.m, C)
        chunks = cdiv(g.n, g.chunk)
        # columns of B outermost: a chunk of B's columns is reused across the m-tiles (fetched once
        # if it fits), A walked again per chunk; rows of A outermost: an m-tile of A is reused
        # across the chunks, B walked per m-tile
        b_block = np.where(g.n_outer, b_bytes * g.chunk / g.n, b_bytes)
        a_block = np.where(g.n_outer, a_bytes, a_bytes / tm)
        out = g.m * g.n * acc
        return Reuse(a_block, chunks, b_block, tm, chunks * g.m * g.k * arch.operand_bytes, tm * b_stream,
                     tk * out, (tk - 1) * out)

    def smallest_tile_bytes(self, g, arch):
        a, op = arch.array, arch.operand_bytes
        expand = g.k / np.maximum(g.k_eff, 1)
        rows, cols = np.minimum(a.rows, g.k_eff), np.minimum(a.cols, g.m)
        return {"input": np.ceil(rows * expand) * cols * op,
                "weight": rows * (op + g.meta_bits / 8),
                "output": self.psum_bytes(g, arch)}

    def describe(self, g, arch):
        R, C = arch.array.rows, arch.array.cols
        chunks = -(-int(g.n[0]) // int(g.chunk[0]))
        order = "columns of B outermost" if g.n_outer[0] else "rows of A outermost"
        tiles = "interleaved, back to back" if g.interleave[0] else "one after another"
        expand = int(g.k[0]) / max(int(g.k_eff[0]), 1)
        return (f"input-stationary, B in {chunks} chunk(s) of {int(g.chunk[0]):,} columns, "
                f"{-(-int(g.k_eff[0]) // R)} x {-(-int(g.m[0]) // C)} input tiles ({tiles}; "
                f"{expand:.3g} dense rows per executed row), {order}")
