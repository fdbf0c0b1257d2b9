"""GEMMs on the vector engine's lanes: where a GEMM leaves a systolic array nearly idle.

A depthwise convolution is one GEMM per channel with a 3x3 reduction and one output column
(k = 9, n = 1): on a 32x32 array it fills nine rows of one column. The lanes instead compute
one output element each (``lanes`` at a time), its ``k`` multiply-accumulates in a row, every
product dense (the lanes have no N:M multiplexer), ``cycles_per_element.mac`` cycles each. A lane
keeps as many partial sums in flight as its adder has stages, so the accumulator latency costs
no issue slot; with fewer outputs than lanes (a weight gradient's few outputs over a long
reduction) each output's reduction is split over several lanes. The partial sums are then added
in a tree: latency x ceil(log2 partials) cycles at the end, beside the adder's own latency. A window slides over line buffers and the weights sit in the lanes' registers,
so each input and weight element is read from its buffer once per group of ``lanes`` output
columns, and no partial sum leaves a lane. The whole GEMM is one chunk and one event step.
The mapping search offers this dataflow where ``vector_engine.runs_gemms`` is on.
"""
from __future__ import annotations

import numpy as np

from .base import ArrayTiming, Dataflow, Reuse, cdiv

_int = np.int64


class VectorLanes(Dataflow):
    name, short, title = "vector_lanes", "VL", "vector-lane"
    stream_axis, area_proxy = "m", "vector"
    chunk_meaning = "rows of A per step (the whole GEMM)"
    mapping_options = False   # no loop order, no interleave: one output per lane

    def timing(self, machine, shape) -> ArrayTiming:
        lanes, L = max(int(machine.vector_lanes), 1), _int(machine.acc_latency)
        outputs = shape.m * shape.n
        macs = outputs * shape.k_dense
        busy = np.maximum(np.ceil(macs * machine.vector_mac_cycles / lanes).astype(_int), 1)
        # fewer outputs than lanes: each output's reduction is split over lanes // outputs lanes;
        # a lane keeps L partial sums in flight (so the adder latency costs no issue slot) and
        # the partial sums are added in a tree at the end
        split = np.maximum(lanes // np.maximum(outputs, 1), 1)
        partials = np.minimum(split * L, np.maximum(shape.k_dense, 1))
        tree = L * np.ceil(np.log2(np.maximum(partials, 1))).astype(_int)
        drain = L + tree
        return ArrayTiming(busy + drain, busy, drain, np.zeros_like(busy))

    def chunk_extent(self, g, arch):
        return g.m.astype(_int)

    def max_chunk(self, g, arch):
        return g.m.astype(_int)

    def default_chunk(self, g, arch):
        return g.m.astype(_int)

    def chunk_candidates(self, extent, longest, arch):
        return np.asarray(extent, _int)[:, None]

    def reuse(self, g, arch, a_bytes, b_bytes, b_stream) -> Reuse:
        passes = cdiv(g.n, arch.vector_engine.lanes)
        # integers, as every dataflow's counts are: a GEMM table's columns keep one dtype
        # whichever dataflows its rows mix
        zero, once = np.zeros(len(g.m), _int), np.ones(len(g.m), _int)
        return Reuse(a_bytes, once, b_bytes, once, a_bytes * passes, b_stream, zero, zero)

    def smallest_tile_bytes(self, g, arch):
        op, lanes = arch.operand_bytes, arch.vector_engine.lanes
        # the reduction streams through in slices of one lane-width
        k = np.minimum(g.k, lanes)
        return {"input": k * op, "weight": k * np.minimum(g.n, lanes) * op,
                "output": np.minimum(g.m * g.n, lanes) * arch.accumulator_bytes}

    def units_per_step(self, g, traffic, arch):
        return g.m.astype(_int)

    def tiles_per_step(self, g, units, arch):
        return np.ones(len(g.m), _int)

    def describe(self, g, arch):
        v = arch.vector_engine
        macs = int(g.m[0]) * int(g.n[0]) * int(g.k[0])
        return (f"on the vector engine's {v.lanes} lanes, one output element per lane: {macs:,} dense MACs "
                f"at {v.cycles_per_element.mac:g} cycle(s) each")
