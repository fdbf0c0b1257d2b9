"""The per-GEMM cost model: array timing, traffic, the analytic roofline and energy.

One evaluation over a whole GEMM table (any mapping), shared by the analytic fidelity and the
mapping search, which ranks candidates by cycles, then DRAM bytes, then energy.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..arch.schema import Arch, NMPattern
from ..arch.technology import device
from ..core.reuse import reused
from ..dataflow.gemms import GemmTable
from ..dataflow.flows import CODES, Machine, Shape, rows_of
from .dram import dram_cycles as dram_cycles_of
from .timing import ArrayTiming, gemm_timing
from .traffic import Traffic, gemm_traffic, port_cycles


@dataclass(frozen=True)
class GemmCost:
    """Totals over each GEMM's ``count`` instances."""

    timing: ArrayTiming          # per instance
    traffic: Traffic             # per instance
    array: np.ndarray            # tile-timing cycles
    buffer_cycles: np.ndarray    # the busiest buffer's port cycles
    dram_cycles: np.ndarray      # DRAM bytes over the DRAM bandwidth
    cycles: np.ndarray           # the roofline: the largest of the three
    dram_bytes: np.ndarray
    macs: np.ndarray             # MACs issued
    energy_compute_pj: np.ndarray
    energy_buffer_pj: np.ndarray
    energy_dram_pj: np.ndarray
    energy_movement_pj: np.ndarray   # operands moving inside the array (:func:`movement_energy`)

    @property
    def energy_pj(self) -> np.ndarray:
        return self.energy_compute_pj + self.energy_movement_pj + self.energy_buffer_pj + self.energy_dram_pj

    def ranking(self) -> tuple[np.ndarray, ...]:
        """What the search minimises, most important first: cycles; then the array's own cycles
        (under a memory roofline, the mapping that leaves the array the most slack); then DRAM
        bytes and energy."""
        return self.cycles, self.array, self.dram_bytes, self.energy_pj

    def take(self, index: np.ndarray) -> "GemmCost":
        """Rows ``index`` of every column."""
        timing, traffic, *columns = (getattr(self, f.name) for f in fields(self))
        return GemmCost(rows_of(timing, index), rows_of(traffic, index), *(c[index] for c in columns))


def streamed_reduction(g: GemmTable, arch: Arch) -> np.ndarray:
    """The reduction steps a tile takes. With ``activation_skipping`` an output-stationary PE row
    skips the zeros of its A stream: a tile lasts as long as its fullest row, the expected
    maximum of R rows of k draws that are nonzero with the trace's density (normal
    approximation: mean + sd * sqrt(2 ln R)). Weight-stationary streams whole rows of A through
    the array, so it skips nothing."""
    if not arch.sparsity.activation_skipping:
        return g.k_eff
    d, k = g.a_density, g.k_eff
    fullest = np.ceil(k * d + np.sqrt(k * d * (1 - d)) * np.sqrt(2 * np.log(max(arch.array.rows, 2))))
    return np.where(g.flow_code == CODES["output_stationary"], np.clip(fullest, 1, k), k).astype(np.int64)


def lanes_moved(patterns: np.ndarray) -> np.ndarray:
    """Activation lanes each PE latches and forwards per step: the M of the pattern a GEMM executes
    (its group's M candidates, of which the index picks one); 1 for a dense or unstructured GEMM.
    Lanes of a wider array that the pattern leaves unused hold still."""
    lanes = np.ones(len(patterns), np.int64)
    left = np.ones(len(patterns), bool)
    while left.any():                      # one pass per distinct pattern (a table holds a few)
        pattern = str(patterns[np.argmax(left)])
        same = patterns == pattern
        if ":" in pattern:
            lanes[same] = NMPattern.parse(pattern).m
        left &= ~same
    return lanes


def movement_energy(g: GemmTable, tr: Traffic, arch: Arch, slots: np.ndarray) -> np.ndarray:
    """Operand movement inside the array (pJ, all instances), from the device's fabric energies
    (``energy.technology``; 0 without one). Every MAC slot's PE latches the M activations of its
    group from its left neighbour (both dataflows move A one PE a cycle), and its M:1 multiplexer
    switches over those M inputs; every executed weight and its index bits (each pass of B into
    the array) shift down its PE column: all R rows output-stationary (B moves every cycle), (R + 1) / 2 on average
    (plus the shadow register) during a stationary tile's preload. The vector lanes move nothing
    here."""
    if arch.energy.technology is None:
        return np.zeros(len(g.m))
    dev = device(arch.energy.technology)
    bits = arch.operand_bytes * 8
    lanes = lanes_moved(g.pattern)
    activations = slots * lanes * bits * (dev.register_pj_per_bit + dev.mux_pj_per_input_bit)
    weight_bits = tr.b_passes * g.k_eff * g.n * (bits + g.meta_bits) * g.count
    rows = arch.array.rows
    hops = np.where(g.flow_code == CODES["output_stationary"], rows, (rows + 1) / 2 + arch.array.weight_double_buffer)
    weights = weight_bits * hops * dev.register_pj_per_bit
    return np.where(g.flow_code == CODES["vector_lanes"], 0.0, activations + weights)


def timing_shape(g: GemmTable, arch: Arch) -> Shape:
    """What the tile timing of each GEMM depends on, under its mapping."""
    return Shape(g.m, g.n, streamed_reduction(g, arch), g.k, g.chunk, g.interleave)


def gemm_cost(g: GemmTable, arch: Arch, same_timing: np.ndarray | None = None,
              timing: ArrayTiming | None = None, traffic: Traffic | None = None) -> GemmCost:
    """The cost of every GEMM of ``g``; ``same_timing`` (optional): per row, a row with the same
    tile timing (the first of those that differ only in the loop order), timed once for all;
    ``timing`` and ``traffic`` (optional): the tile timing and the traffic of every row, if the
    caller has them."""
    e = arch.energy
    skipping = arch.sparsity.activation_skipping
    t = _timing(g, arch, same_timing) if timing is None else timing
    tr = gemm_traffic(g, arch) if traffic is None else traffic
    cnt = g.count
    array = t.cycles * cnt
    buffer_cycles = port_cycles(g, tr, arch) * cnt
    dram_bytes = tr.dram * cnt
    dram_cycles = dram_cycles_of(arch, tr.dram_read * cnt, tr.dram_write * cnt)
    cycles = np.ceil(np.maximum(np.maximum(array, buffer_cycles), dram_cycles)).astype(np.int64)
    slots = g.m * g.n * g.k_eff * cnt
    density = g.a_density if skipping else 1.0
    # skipping: an OS PE issues only nonzero products; a WS PE still spends the slot but gates it
    macs = np.where(g.flow_code == CODES["output_stationary"], np.round(slots * density), slots).astype(np.int64) \
        if skipping else slots.astype(np.int64)
    return GemmCost(t, tr, array, buffer_cycles, dram_cycles, cycles, dram_bytes, macs,
                    slots * density * e.mac_pj,
                    (sum(tr.buffer_read.values()) * e.buffer_read_pj_per_byte
                     + sum(tr.buffer_write.values()) * e.buffer_write_pj_per_byte) * cnt,
                    dram_bytes * e.dram_pj_per_byte, movement_energy(g, tr, arch, slots))


def _timing(g: GemmTable, arch: Arch, same_timing: np.ndarray | None) -> ArrayTiming:
    """The tile timing of each GEMM, each distinct row of ``same_timing`` timed once."""
    if same_timing is None:
        return gemm_timing(Machine.of(arch), g.flow_code, timing_shape(g, arch))
    timed = np.flatnonzero(same_timing == np.arange(len(same_timing)))
    # grouped by dataflow and interleave choice, so that the timing splits them into slices
    codes = g.flow_code.take(timed)
    order = np.argsort(codes * np.int8(2) + g.interleave.take(timed), kind="stable")
    timed = timed[order]
    t = gemm_timing(Machine.of(arch), codes[order], timing_shape(rows_of(g, timed), arch))
    at = np.empty(len(same_timing), np.intp)
    at[timed] = np.arange(len(timed))                 # each timed row's place in t
    at = at[same_timing]
    return ArrayTiming(*(getattr(t, f.name)[at] for f in fields(ArrayTiming)))


TIMING_INPUTS = ("array.rows", "array.cols", "array.accumulator_latency_cycles", "array.weight_double_buffer",
                 "array.mac_pipeline_stages", "sparsity.activation_skipping", "vector_engine.lanes",
                 "vector_engine.cycles_per_element.mac")
"""The arch values the tile timing reads (:func:`~sparseloom.core.reuse.reused`): the machine and
the skipped activations."""


def _bounded_timing(candidates: GemmTable, arch: Arch, same_timing: np.ndarray | None) -> tuple[ArrayTiming, np.ndarray]:
    """The tile timing of every candidate and its lower bound on the roofline ``cycles``:
    cycles = ceil(max(array, buffer, DRAM cycles)) in float64, array = cycles x count; ceil and
    max never decrease, so the bound is at most cycles, whatever the magnitudes."""
    timing = _timing(candidates, arch, same_timing)
    return timing, np.ceil((timing.cycles * candidates.count).astype(np.float64)).astype(np.int64)


TRAFFIC_INPUTS = ("array.rows", "array.cols", "array.operand_dtype", "array.accumulator_dtype", "buffers.name",
                  "buffers.holds", "buffers.size_kib", "buffers.double_buffered", "vector_engine.lanes")
"""The arch values :func:`gemm_traffic` reads (:func:`~sparseloom.core.reuse.reused`): the tiles
and the buffers' capacities, not their ports."""


class CandidateCost:
    """The cost model as the mapping search uses it (:class:`~sparseloom.dataflow.search.Costing`):
    the tile timing of every candidate (timed once per loop-order pair), whose array cycles bound
    the roofline ``cycles`` from below (``lower``), and the full cost of the rows the search asks
    for, kept for :meth:`cost_of`."""

    def __init__(self, arch: Arch, candidates: GemmTable, same_timing: np.ndarray | None = None):
        self.arch, self.candidates = arch, candidates
        self.timing, self.lower = reused("timing", (candidates, same_timing), arch, TIMING_INPUTS,
                                         lambda: _bounded_timing(candidates, arch, same_timing))
        self._rows, self._cost = np.zeros(0, np.int64), None

    def keys(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        self._rows, self._cost = rows, self._costed(rows)
        return self._cost.ranking()

    def cost_of(self, rows: np.ndarray) -> GemmCost:
        """The cost of candidates ``rows`` (any order, repeats allowed): taken from the rows last
        costed for :meth:`keys` where it holds them all."""
        at = np.minimum(np.searchsorted(self._rows, rows), max(len(self._rows) - 1, 0))
        if len(self._rows) and (self._rows[at] == rows).all():
            return self._cost.take(at)
        return self._costed(rows)

    def _costed(self, rows: np.ndarray) -> GemmCost:
        g, traffic = reused("traffic", (self.candidates,), self.arch, TRAFFIC_INPUTS,
                            lambda: self._traffic(rows), rows.tobytes())
        return gemm_cost(g, self.arch, timing=rows_of(self.timing, rows), traffic=traffic)

    def _traffic(self, rows: np.ndarray) -> tuple[GemmTable, Traffic]:
        g = rows_of(self.candidates, rows)        # the few columns the cost reads, gathered when read
        return g, gemm_traffic(g, self.arch)
