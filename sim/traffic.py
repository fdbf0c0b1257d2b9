"""Bytes each GEMM moves between DRAM, the buffers and the array (analytic, vectorised).

Each dataflow's loop nest says how its outer loops reuse the operands (:class:`Reuse`): the
share of an operand that one outer pass reuses is fetched once if it fits its buffer's usable
capacity, else again for every outer tile that reuses it. Every input element of an N:M group is
still read from the input buffer (the PE's multiplexer needs all M candidates), so an N:M GEMM
reads the dense k inputs per row while it issues only its compressed k_eff MACs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from ..arch.schema import Arch
from ..dataflow.flows import per_flow, rows_of
from ..dataflow.gemms import GemmTable


@dataclass(frozen=True)
class Traffic:
    a_read: np.ndarray               # DRAM bytes of A, with re-fetches
    b_read: np.ndarray               # DRAM bytes of B, with re-fetches
    a_fetches: np.ndarray            # times A is fetched (1: once)
    b_fetches: np.ndarray            # times B is fetched (1: once)
    b_passes: np.ndarray             # times B streams from the weight buffer into the array
    dram_read: np.ndarray
    dram_write: np.ndarray
    compulsory: np.ndarray           # every DRAM operand moved exactly once
    onchip_saved: np.ndarray         # DRAM bytes a resident activation saves (:mod:`..dataflow.residency`)
    buffer_read: dict[str, np.ndarray]
    buffer_write: dict[str, np.ndarray]

    @property
    def dram(self) -> np.ndarray:
        return self.dram_read + self.dram_write


def b_stream_bytes(g: GemmTable, arch: Arch) -> np.ndarray:
    """Bytes of B one pass over it reads from the weight buffer: its stored copy's values and
    indices (a load-as-sparse copy is expanded after the buffer)."""
    op = arch.operand_bytes
    compressed = g.stored != "dense"
    return np.where(compressed, g.k_stored * g.n * (op + g.stored_meta_bits / 8), g.k * g.n * op)


def weight_copy_bytes(g: GemmTable, arch: Arch, b_stream: np.ndarray | None = None) -> np.ndarray:
    """Bytes of B each GEMM instance reads from DRAM once: its stored copy (compressed with its
    indices, or dense). The DMA fetches only the elements a GEMM touches: a strided 1x1 conv
    skips 3 pixels in 4. ``b_stream``: :func:`b_stream_bytes`, if the caller has it."""
    b_stream = b_stream_bytes(g, arch) if b_stream is None else b_stream
    return np.where(g.stored != "dense", b_stream, np.minimum(g.b_elems, g.k * g.n) * arch.operand_bytes)


def port_cycles(g: GemmTable, traffic: "Traffic", arch: Arch) -> np.ndarray:
    """Per GEMM instance, the cycles the busiest buffer's ports need, and the decompressor where
    a stored copy is expanded before the array (it sits on the weight buffer's read path):
    each pass over B expands its executed k_eff x n elements."""
    ports = reduce(np.maximum, [(traffic.buffer_read[b.name] + traffic.buffer_write[b.name]) / b.bytes_per_cycle
                                for b in arch.buffers])
    expanded = g.stored != g.pattern
    if not expanded.any():
        return ports
    passes = traffic.b_passes
    decompress = passes * g.k_eff * g.n / max(arch.sparsity.decompress_elements_per_cycle, 1e-30)
    return np.where(expanded, np.maximum(ports, decompress), ports)


def gemm_traffic(g: GemmTable, arch: Arch) -> Traffic:
    """Per-GEMM-instance bytes (multiply by ``g.count`` for the layer total)."""
    op, acc = arch.operand_bytes, arch.accumulator_bytes
    inb, wb, outb = (arch.buffer_for(o) for o in ("input", "weight", "output"))
    b_stream = b_stream_bytes(g, arch)
    b_bytes = weight_copy_bytes(g, arch, b_stream)
    a_bytes = np.minimum(g.a_elems, g.m * g.k) * op
    c_bytes = g.c_elems * np.where(g.c_acc == 1, acc, op)

    def call(f, i):
        return f.reuse(rows_of(g, i), arch, a_bytes[i], b_bytes[i], b_stream[i])

    r = per_flow(g.flow_code, call)
    a_fetches = np.where(r.a_block <= inb.usable_bytes, 1, r.a_refetch)
    b_fetches = np.where(r.b_block <= wb.usable_bytes, 1, r.b_refetch)
    b_read = b_fetches * b_bytes
    reads, writes = {b.name: 0 for b in arch.buffers}, {b.name: 0 for b in arch.buffers}
    for buffer, read, write in ((inb, r.a_to_array, a_fetches * a_bytes),
                                (wb, r.b_to_array, b_read),
                                (outb, r.psum_reads + c_bytes, r.psum_writes)):
        reads[buffer.name] = reads[buffer.name] + read
        writes[buffer.name] = writes[buffer.name] + write
    # an operand resident on chip (the previous layer's output; an output kept for the next) skips DRAM
    a_dram = np.where(g.a_onchip, 0, a_bytes)
    c_dram = np.where(g.c_onchip, 0, c_bytes)
    a_read = a_fetches * a_dram
    return Traffic(a_read, b_read, a_fetches, b_fetches, r.b_to_array / np.maximum(b_stream, 1e-30),
                   a_read + b_read, c_dram, a_dram + b_bytes + c_dram,
                   a_fetches * (a_bytes - a_dram) + c_bytes - c_dram, reads, writes)
