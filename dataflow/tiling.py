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
