"""Bytes each GEMM moves between DRAM, the buffers and the array (analytic, vectorised).

Loop orders: weight-stationary runs chunks of ``m_tile`` rows of A (sized by
:mod:`~sparseloom.dataflow.tiling` so the chunk's partial sums stay on chip) and n-tiles, with
k-tiles innermost; each chunk visits every weight tile. Output-stationary runs m-tiles and
n-tiles, streaming k. Either dataflow walks the rows of A outermost (the default) or the columns
of B (``n_outer``). An operand whose DRAM tensor (or the share the outer loop reuses) does not fit
its buffer's usable capacity is fetched again for every outer tile that reuses it. Every input element of an N:M group is still read from the input buffer (the PE's
multiplexer needs all M candidates), so an N:M GEMM reads the dense k inputs per row while it
issues only its compressed k_eff MACs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.gemms import GemmTable
from ..dataflow.tiling import usable_bytes


@dataclass(frozen=True)
class Traffic:
    a_read: np.ndarray               # DRAM bytes of A, with re-fetches
    b_read: np.ndarray               # DRAM bytes of B, with re-fetches
    b_fetches: np.ndarray            # times B is fetched (1: once, before the first step)
    dram_read: np.ndarray
    dram_write: np.ndarray
    compulsory: np.ndarray           # every DRAM operand moved exactly once
    buffer_read: dict[str, np.ndarray]
    buffer_write: dict[str, np.ndarray]

    @property
    def dram(self) -> np.ndarray:
        return self.dram_read + self.dram_write


def gemm_traffic(g: GemmTable, arch: Arch) -> Traffic:
    """Per-GEMM-instance bytes (multiply by ``g.count`` for the layer total)."""
    op, acc = arch.operand_bytes, arch.accumulator_bytes
    R, C = arch.array.rows, arch.array.cols
    inb, wb, outb = (arch.buffer_for(o) for o in ("input", "weight", "output"))
    ws = g.dataflow == "weight_stationary"
    tk, tn, tm = -(-g.k_eff // R), -(-g.n // C), -(-g.m // R)

    b_stream = np.where(g.b_compressed == 1, g.k_eff * g.n * (op + g.meta_bits / 8), g.k * g.n * op)
    # the DMA fetches only the elements a GEMM touches: a strided 1x1 conv skips 3 pixels in 4
    b_bytes = np.where(g.b_compressed == 1, b_stream, np.minimum(g.b_elems, g.k * g.n) * op)
    a_bytes = np.minimum(g.a_elems, g.m * g.k) * op
    c_bytes = g.c_elems * np.where(g.c_acc == 1, acc, op)

    chunks = -(-g.m // g.m_tile)
    # rows of A outermost: the A rows of a WS chunk or an OS m-tile are reused across the
    # n-tiles (fetched once if they fit), and B is walked again for each of those outer tiles;
    # columns of B outermost: B's column block is reused across them, and A is walked per n-tile
    b_reuse = np.where(ws, chunks, tm)              # outer row tiles that each walk all of B
    a_block = np.where(g.n_outer, a_bytes, a_bytes * np.where(ws, g.m_tile, np.minimum(g.m, R)) / g.m)
    a_fetches = np.where(a_block <= usable_bytes(inb), 1, tn)
    b_block = np.where(g.n_outer, b_bytes / tn, b_bytes)
    b_fetches = np.where(b_block <= usable_bytes(wb), 1, b_reuse)
    dram_read = a_fetches * a_bytes + b_fetches * b_bytes
    dram_write = c_bytes

    a_stream = tn * g.m * g.k * op
    psum_rmw = np.where(ws, (tk - 1) * g.m * g.n * acc, 0)  # read back for the next k-tile
    reads, writes = {b.name: 0 for b in arch.buffers}, {b.name: 0 for b in arch.buffers}
    for buffer, read, write in (
        (inb, a_stream, a_fetches * a_bytes),
        (wb, b_reuse * b_stream, b_fetches * b_bytes),
        (outb, psum_rmw + c_bytes, np.where(ws, tk, 1) * g.m * g.n * acc),
    ):
        reads[buffer.name] = reads[buffer.name] + read
        writes[buffer.name] = writes[buffer.name] + write
    return Traffic(a_fetches * a_bytes, b_fetches * b_bytes, b_fetches, dram_read, dram_write,
                   a_bytes + b_bytes + c_bytes, reads, writes)
