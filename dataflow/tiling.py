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


def m_tile(m: np.ndarray, n: np.ndarray, a_bytes: np.ndarray, ws: np.ndarray, arch: Arch) -> np.ndarray:
    """Rows of A per weight-stationary chunk (``m`` itself for output-stationary)."""
    psum_row = np.minimum(n, arch.array.cols) * arch.accumulator_bytes
    by_output = usable_bytes(arch.buffer_for("output")) // psum_row
    by_input = usable_bytes(arch.buffer_for("input")) * m // np.maximum(a_bytes, 1)
    by_input = np.maximum(by_input, arch.array.rows)
    chunk = np.clip(np.minimum(by_output, by_input), 1, m)
    return np.where(ws, chunk, m).astype(np.int64)


def check_fits(arch: Arch, m, n, k, k_eff, compressed, ws, names: list[str]) -> None:
    """Raise :class:`CapacityError` for the first GEMM whose smallest legal tile overflows a buffer.

    Smallest tiles: weight-stationary holds one weight tile (R x C, compressed with indices), the
    inputs one A row needs for it, and one row of C partial sums; output-stationary holds one row
    of B and one k-step of inputs per array row (the M candidates of an N:M group), its outputs
    sit in the PEs.
    """
    a, op, acc = arch.array, arch.operand_bytes, arch.accumulator_bytes
    weight_bytes = op + np.where(compressed == 1, arch.sparsity.index_bits_per_nonzero / 8, 0)
    expand = k / np.maximum(k_eff, 1)                      # dense inputs behind one executed slot
    rows, cols = np.minimum(a.rows, k_eff), np.minimum(a.cols, n)
    need = {
        "input": np.where(ws, np.ceil(rows * expand) * op, np.minimum(a.rows, m) * np.ceil(expand) * op),
        "weight": np.where(ws, rows * cols * weight_bytes, cols * weight_bytes),
        "output": np.where(ws, cols * acc, 0),
    }
    for operand, required in need.items():
        buffer = arch.buffer_for(operand)
        over = np.flatnonzero(required > usable_bytes(buffer))
        if len(over):
            i = over[0]
            half = " (half of it: double-buffered)" if buffer.double_buffered else ""
            flow = "weight-stationary" if ws[i] else "output-stationary"
            raise CapacityError(
                f"{names[i]}: the smallest {flow} tile needs {int(required[i]):,} B of {buffer.name} for its "
                f"{operand} operand, but {arch.name}'s {buffer.name} offers {usable_bytes(buffer):,} B{half}; "
                f"enlarge buffers[{buffer.name}].size_kib or use a smaller array")
