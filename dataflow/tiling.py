"""Tile sizes that respect the buffer capacities (vectorised over a GEMM table).

Weight-stationary streams the m rows of A in chunks of ``m_tile`` rows. A chunk's partial sums
(``m_tile`` x C in the accumulator datatype) must fit the output buffer while the k-tiles
accumulate. Its share of the input tensor should fit the input buffer too, so that it is fetched
once and reused by every n-tile; but a chunk shorter than the array has rows would leave the
array waiting on every weight preload, so the input constraint never cuts a chunk below R rows:
past that point the chunk's input is fetched again per n-tile instead (see ``sim.traffic``).
Output-stationary keeps outputs in the PEs and needs no chunking. Usable capacity is half a
double-buffered buffer (the other half is loading).
"""
from __future__ import annotations

import numpy as np

from ..arch.schema import Arch, Buffer
from ..core.errors import CapacityError


def usable_bytes(buffer: Buffer) -> int:
    """Bytes a tile may occupy: half of a double-buffered buffer."""
    return buffer.size_bytes // 2 if buffer.double_buffered else buffer.size_bytes


def max_m_tile(g, arch: Arch) -> np.ndarray:
    """The longest legal weight-stationary chunk: its partial sums fill the output buffer."""
    psum_row = np.minimum(g.n, arch.array.cols) * arch.accumulator_bytes
    return np.clip(usable_bytes(arch.buffer_for("output")) // psum_row, 0, g.m).astype(np.int64)


def default_m_tile(m: np.ndarray, n: np.ndarray, a_bytes: np.ndarray, ws: np.ndarray, arch: Arch) -> np.ndarray:
    """The fixed rule (without offline scheduling): rows of A per weight-stationary chunk
    (``m`` itself for output-stationary)."""
    psum_row = np.minimum(n, arch.array.cols) * arch.accumulator_bytes
    by_output = usable_bytes(arch.buffer_for("output")) // psum_row
    by_input = usable_bytes(arch.buffer_for("input")) * m // np.maximum(a_bytes, 1)
    by_input = np.maximum(by_input, arch.array.rows)
    chunk = np.clip(np.minimum(by_output, by_input), 1, m)
    return np.where(ws, chunk, m).astype(np.int64)


def smallest_tile_bytes(g, arch: Arch) -> dict[str, np.ndarray]:
    """Bytes of each operand's buffer that the smallest legal tile of each GEMM needs.

    Weight-stationary holds one weight tile (R x C, compressed with indices), the inputs one A
    row needs for it, and one row of C partial sums; output-stationary holds one row of B and
    one k-step of inputs per array row (the M candidates of an N:M group), its outputs sit in
    the PEs.
    """
    a, op, acc = arch.array, arch.operand_bytes, arch.accumulator_bytes
    ws = g.dataflow == "weight_stationary"
    weight_bytes = op + g.meta_bits / 8
    expand = g.k / np.maximum(g.k_eff, 1)                  # dense inputs behind one executed slot
    rows, cols = np.minimum(a.rows, g.k_eff), np.minimum(a.cols, g.n)
    return {
        "input": np.where(ws, np.ceil(rows * expand) * op, np.minimum(a.rows, g.m) * np.ceil(expand) * op),
        "weight": np.where(ws, rows * cols * weight_bytes, cols * weight_bytes),
        "output": np.where(ws, cols * acc, 0),
    }


def tile_fits(g, arch: Arch) -> np.ndarray:
    """True where a GEMM's mapping is legal: its smallest tile fits and its chunk is not too long."""
    fits = np.ones(len(g.m), bool)
    for operand, need in smallest_tile_bytes(g, arch).items():
        fits &= need <= usable_bytes(arch.buffer_for(operand))
    ws = g.dataflow == "weight_stationary"
    return fits & (~ws | ((g.m_tile >= 1) & (g.m_tile <= np.maximum(max_m_tile(g, arch), 1))))


def capacity_error(g, arch: Arch, name: str) -> CapacityError:
    """The error for a one-row GEMM table whose smallest tile does not fit."""
    for operand, need in smallest_tile_bytes(g, arch).items():
        buffer = arch.buffer_for(operand)
        if need[0] > usable_bytes(buffer):
            half = " (half of it: double-buffered)" if buffer.double_buffered else ""
            flow = "weight-stationary" if g.dataflow[0] == "weight_stationary" else "output-stationary"
            return CapacityError(
                f"{name}: the smallest {flow} tile needs {int(need[0]):,} B of {buffer.name} for its "
                f"{operand} operand, but {arch.name}'s {buffer.name} offers {usable_bytes(buffer):,} B{half}; "
                f"enlarge buffers[{buffer.name}].size_kib or use a smaller array")
    return CapacityError(f"{name}: no legal tile on {arch.name}")
