"""What every dataflow module provides, and the array parameters its tile timing depends on.

A dataflow says how a GEMM C[m x n] += A[m x k] B[k x n] (B the N:M-compressible operand, k its
executed reduction length) is laid on an R x C systolic array: which operand stays in the PEs,
which streams, how the outer loops reuse each operand, the smallest tile the buffers must hold,
how the event engine cuts it into steps, and the words ``--explain`` uses. Every method takes
numpy arrays of GEMMs (one entry per GEMM) and returns arrays of the same length; nothing outside
``dataflow/flows`` asks which dataflow a GEMM uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_int = np.int64


def cdiv(a, b):
    """Ceiling division that broadcasts over numpy arrays."""
    return -(-a // b)


_LARGEST = np.iinfo(_int).max


def distinct_ascending(values: np.ndarray) -> np.ndarray:
    """Each row's distinct positive values in ascending order, the rest of the row 0 (a row per
    GEMM, as :meth:`Dataflow.chunk_candidates` returns them; ``out[out > 0]`` reads them row by row)."""
    values = np.sort(np.where(values > 0, values, _LARGEST), axis=1)
    repeat = np.zeros(values.shape, bool)
    repeat[:, 1:] = values[:, 1:] == values[:, :-1]
    return np.where(repeat | (values == _LARGEST), 0, values)


@dataclass(frozen=True)
class ArrayTiming:
    """Cycles split into MAC-issuing cycles and the two array-internal stall causes."""

    cycles: np.ndarray
    busy: np.ndarray         # cycles in which the array issues MACs
    fill_drain: np.ndarray   # preload, skew, accumulator and output drain, bubbles
    acc_hazard: np.ndarray   # waits for the accumulator pipeline


@dataclass(frozen=True)
class Machine:
    """The array parameters tile timing depends on."""

    rows: int
    cols: int
    acc_latency: int
    weight_double_buffer: bool
    # register stages of a PE's multiply (1: select, multiply and add in one cycle); the stages
    # before the adder delay every product by ``mac_pipeline_stages - 1`` cycles but stay off the
    # partial-sum and accumulator loops, so they add latency, not issue slots (see each dataflow)
    mac_pipeline_stages: int = 1
    vector_lanes: int = 0            # the vector engine's lanes (GEMMs mapped onto them)
    vector_mac_cycles: float = 1.0   # a lane's cycles per multiply-accumulate

    @property
    def mac_delay(self) -> int:
        """Cycles the MAC pipeline adds between an operand reaching a PE and its product reaching the adder."""
        return self.mac_pipeline_stages - 1

    @classmethod
    def of(cls, arch) -> "Machine":
        a = arch.array
        v = arch.vector_engine
        return cls(a.rows, a.cols, a.accumulator_latency_cycles, a.weight_double_buffer, a.mac_pipeline_stages,
                   v.lanes, v.cycles_per_element.mac)


@dataclass(frozen=True)
class Shape:
    """The GEMMs to time: sizes, the executed and dense reduction, and the mapping's choices."""

    m: np.ndarray
    n: np.ndarray
    k: np.ndarray            # executed (compressed) reduction length, as streamed
    k_dense: np.ndarray      # dense reduction length (the inputs behind the executed one)
    chunk: np.ndarray        # the mapping's chunk, as its dataflow defines it (<= 0: the default)
    interleave: np.ndarray   # bool: SAT's interleave mapping for this GEMM

    @classmethod
    def of(cls, m, n, k, k_dense=None, chunk=None, interleave=False) -> "Shape":
        m, n, k = (np.asarray(v, _int) for v in (m, n, k))
        k_dense = k if k_dense is None else np.asarray(k_dense, _int)
        m, n, k, k_dense = np.broadcast_arrays(m, n, k, k_dense)
        chunk = np.broadcast_to(np.asarray(-1 if chunk is None else chunk, _int), m.shape)
        interleave = np.broadcast_to(np.asarray(interleave, bool), m.shape)
        return cls(m, n, k, k_dense, chunk, interleave)


@dataclass(frozen=True)
class Reuse:
    """How a dataflow's loop nest reuses the operands (bytes per GEMM instance).

    An operand's ``*_block`` is the share of its DRAM tensor that one pass of the outer loop
    reuses: fetched once if it fits its buffer's usable capacity, else ``*_refetch`` times.
    ``*_to_array`` are the bytes the array reads from the input and weight buffers.
    """

    a_block: np.ndarray
    a_refetch: np.ndarray
    b_block: np.ndarray
    b_refetch: np.ndarray
    a_to_array: np.ndarray
    b_to_array: np.ndarray
    psum_writes: np.ndarray   # accumulator-datatype writes into the output buffer
    psum_reads: np.ndarray    # read back to add the next k-tile


class Dataflow:
    """The interface: one subclass per dataflow, registered in :mod:`sparseloom.dataflow.flows`."""

    name: str                 # as written in the arch file
    short: str                # two letters for tables
    title: str                # words for reports
    stream_axis: str          # "m" or "n": the GEMM axis event steps cut
    chunk_meaning: str        # what the mapping's ``chunk`` counts, in words
    area_proxy: str           # the synthesised PE type the area model prices this dataflow's PEs by
    mapping_options = True    # whether loop order and interleave mean anything for it (the search tries them)

    def timing(self, machine: Machine, shape: Shape) -> ArrayTiming:
        raise NotImplementedError

    def chunk_extent(self, g, arch) -> np.ndarray:
        """The largest ``chunk`` that means anything for each GEMM (all of what it counts)."""
        raise NotImplementedError

    def max_chunk(self, g, arch) -> np.ndarray:
        """The largest legal ``chunk`` of each GEMM (0: none is legal); it may depend on the
        interleave choice, not on the chunk or the loop order (the search finds it once for all)."""
        raise NotImplementedError

    def default_chunk(self, g, arch) -> np.ndarray:
        """The fixed rule, without offline scheduling."""
        raise NotImplementedError

    def chunk_candidates(self, extent: np.ndarray, longest: np.ndarray, arch) -> np.ndarray:
        """The chunks the mapping search tries, per GEMM (given the extent of its chunk and its
        longest legal chunk): a row each, ascending and distinct, padded with 0
        (:func:`distinct_ascending`)."""
        raise NotImplementedError

    def reuse(self, g, arch, a_bytes, b_bytes, b_stream) -> Reuse:
        raise NotImplementedError

    def smallest_tile_bytes(self, g, arch) -> dict[str, np.ndarray]:
        """Bytes of each operand's buffer the smallest legal tile needs; like :meth:`max_chunk`,
        independent of the chunk and the loop order."""
        raise NotImplementedError

    def units_per_step(self, g, traffic, arch) -> np.ndarray:
        """Units of the streamed axis per event step."""
        raise NotImplementedError

    def tiles_per_step(self, g, units, arch) -> np.ndarray:
        """Array tiles a step of ``units`` streamed units runs (its operands arrive tile by tile)."""
        raise NotImplementedError

    def describe(self, g, arch) -> str:
        """The mapping of a one-row GEMM table, in words."""
        raise NotImplementedError
