"""Tile sizes that respect the buffer capacities (vectorised over a GEMM table).

Every mapping has a ``chunk`` whose meaning its dataflow states (rows of A per visit of the
weight tiles, columns of B per visit of the input tiles, output tiles per interleave group); a
stationary dataflow's chunk keeps its partial sums in the output buffer while its k-tiles
accumulate, so the buffer bounds it. The smallest legal tile of each
dataflow must fit every buffer. Usable capacity is half a double-buffered buffer (the other half
is loading).
"""
from __future__ import annotations

import numpy as np

from ..arch.schema import Arch
from ..core.errors import CapacityError
from .flows import flow, per_flow, rows_of


def max_chunk(g, arch: Arch) -> np.ndarray:
    """The longest legal chunk of each GEMM (see :meth:`Dataflow.max_chunk`)."""
    return per_flow(g.flow_code, lambda f, i: f.max_chunk(rows_of(g, i), arch))


def default_chunk(g, arch: Arch) -> np.ndarray:
    """The fixed rule (without offline scheduling): the chunk of each GEMM."""
    return per_flow(g.flow_code, lambda f, i: f.default_chunk(rows_of(g, i), arch))


def smallest_tile_bytes(g, arch: Arch) -> dict[str, np.ndarray]:
    """Bytes of each operand's buffer that the smallest legal tile of each GEMM needs."""
    return per_flow(g.flow_code, lambda f, i: f.smallest_tile_bytes(rows_of(g, i), arch))


def tile_fits(g, arch: Arch) -> np.ndarray:
    """True where a GEMM's mapping is legal: its smallest tile fits and its chunk is not too long."""
    longest, fits = legal_limits(g, arch)
    return fits & chunk_fits(g.chunk, longest)


def legal_limits(g, arch: Arch) -> tuple[np.ndarray, np.ndarray]:
    """Per GEMM, its longest legal chunk (:func:`max_chunk`) and whether the smallest tile of its
    dataflow fits every buffer; both depend on the dataflow and the interleave choice, not on the
    chunk or the loop order."""
    def call(f, i):
        rows = rows_of(g, i)
        return {"longest": f.max_chunk(rows, arch), "fits": _fit(f.smallest_tile_bytes(rows, arch), arch)}

    limits = per_flow(g.flow_code, call)
    return limits["longest"], limits["fits"]


def _fit(need: dict[str, np.ndarray], arch: Arch) -> np.ndarray:
    fits = True
    for operand, bytes_ in need.items():
        fits = fits & (bytes_ <= arch.buffer_for(operand).usable_bytes)
    return np.asarray(fits, bool)


def chunk_fits(chunk: np.ndarray, longest: np.ndarray) -> np.ndarray:
    """True where a chunk is legal given the longest legal one (:func:`max_chunk`)."""
    return (chunk >= 1) & (chunk <= np.maximum(longest, 1))


def capacity_error(g, arch: Arch, name: str, source: str = "") -> CapacityError:
    """The error for a one-row GEMM table whose smallest tile does not fit."""
    where = f"{source}: " if source else ""
    title = flow(g.dataflow[0]).title
    for operand, need in smallest_tile_bytes(g, arch).items():
        buffer = arch.buffer_for(operand)
        if need[0] > buffer.usable_bytes:
            half = " (half of it: double-buffered)" if buffer.double_buffered else ""
            return CapacityError(
                f"{where}{name}: the smallest {title} tile needs {int(need[0]):,} B of {buffer.name} for its "
                f"{operand} operand, but {arch.name}'s {buffer.name} offers {buffer.usable_bytes:,} B{half}; "
                f"enlarge buffers[{buffer.name}].size_kib or use a smaller array")
    f = flow(g.dataflow[0])
    return CapacityError(f"{where}{name}: {'an' if f.title[0] in 'aeiou' else 'a'} {f.title} chunk of {int(g.chunk[0]):,} ({f.chunk_meaning}) is not legal "
                         f"on {arch.name}: expected 1 to {max(int(max_chunk(g, arch)[0]), 1):,}")



def no_mapping_error(g, arch: Arch, name: str) -> CapacityError:
    """The error for a one-row GEMM table no dataflow of ``arch`` can map: per dataflow, the
    buffer its smallest tile overflows and by how much."""
    from dataclasses import replace

    reasons = []
    for dataflow in arch.mapping_dataflows:
        row = replace(g, dataflow=np.array([dataflow], dtype=g.dataflow.dtype if g.dataflow.dtype.kind == "U" else object))
        for operand, need in smallest_tile_bytes(row, arch).items():
            buffer = arch.buffer_for(operand)
            if need[0] > buffer.usable_bytes:
                reasons.append(f"{flow(dataflow).title}: {int(need[0]):,} B of {buffer.name} ({operand}), "
                               f"{buffer.usable_bytes:,} B usable")
    detail = "; ".join(reasons) or "no candidate chunk is legal"
    return CapacityError(f"{name}: no mapping fits {arch.name}'s buffers (smallest tiles: {detail}); "
                         f"enlarge the buffers' size_kib or use a smaller array")
