"""GEMMs cut into steps: the outer tiles the event engine loads, computes and writes back.

A weight-stationary step is one chunk of ``m_tile`` rows of A (which visits every weight tile);
an output-stationary step is as many m-tiles of R rows as the input buffer's usable half holds. Repeated instances of a GEMM (``count``)
follow each other. A step's compute cycles are increments of the one tile-timing function over
the rows done so far, so a GEMM's steps add up to exactly its analytic array cycles. Its DRAM
bytes are its share (by rows) of the GEMM's traffic, except that a B operand fetched once is
fetched entirely by each instance's first step. A step starts once the share of its operands
that its first array tile needs is in; the rest streams in while it computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.gemms import GemmTable
from ..dataflow.tiling import usable_bytes
from .cost import streamed_reduction
from .timing import array_cycles
from .traffic import Traffic


@dataclass(frozen=True)
class Steps:
    gemm: np.ndarray      # row of the GEMM table
    compute: np.ndarray   # array cycles
    memory: np.ndarray    # cycles the busiest buffer's ports need (compute stretches to this)
    load: np.ndarray      # DRAM bytes read before the step can start: its first array tile's share
    stream: np.ndarray    # DRAM bytes read while it computes (it cannot end before they arrive)
    write: np.ndarray     # DRAM bytes written after it ends

    def __len__(self) -> int:
        return len(self.gemm)


def gemm_steps(g: GemmTable, traffic: Traffic, arch: Arch) -> Steps:
    """Every GEMM's steps, in table order, instances one after another."""
    a = arch.array
    ws = g.dataflow == "weight_stationary"
    # output-stationary: as many m-tiles per step as the input buffer's usable half holds of A
    a_per_tile = traffic.a_read * a.rows / g.m
    tiles_per_step = np.maximum(1, usable_bytes(arch.buffer_for("input")) // np.maximum(a_per_tile, 1)).astype(np.int64)
    rows_per_step = np.where(ws, g.m_tile, a.rows * tiles_per_step)
    per_instance = -(-g.m // rows_per_step)
    gemm = np.repeat(np.arange(len(g)), per_instance)
    j = np.arange(len(gemm)) - np.repeat(np.cumsum(per_instance) - per_instance, per_instance)  # step in instance
    done = np.minimum((j + 1) * rows_per_step[gemm], g.m[gemm])
    before = np.minimum(j * rows_per_step[gemm], g.m[gemm])

    reduction = streamed_reduction(g, arch)

    def cycles(rows):
        t = array_cycles(a.rows, a.cols, ws[gemm], np.maximum(rows, 1), g.n[gemm], reduction[gemm],
                         a.accumulator_latency_cycles, arch.dataflow_options.interleave, a.weight_double_buffer,
                         g.m_tile[gemm])
        return np.where(rows > 0, t.cycles, 0)

    compute = cycles(done) - cycles(before)
    share = (done - before) / g.m[gemm]
    b_once = traffic.b_fetches[gemm] == 1
    b_load = np.where(b_once, np.where(j == 0, traffic.b_read[gemm], 0), traffic.b_read[gemm] * share)
    # operands stream in tile by tile: a step starts with its first array tile's share
    tn = -(-g.n[gemm] // a.cols)
    tiles = np.where(ws[gemm], -(-g.k_eff[gemm] // a.rows) * tn, -(-(done - before) // a.rows) * tn)
    total = traffic.a_read[gemm] * share + b_load
    load = total / tiles
    stream = total - load
    write = traffic.dram_write[gemm] * share
    # instances of a GEMM repeat its steps one after another
    order = np.concatenate([np.tile(np.flatnonzero(gemm == i), g.count[i]) for i in range(len(g))])
    gemm, compute = gemm[order], compute[order]
    return Steps(gemm, compute, _memory_cycles(g, traffic, arch, gemm, compute), load[order], stream[order],
                 write[order])


def _memory_cycles(g: GemmTable, traffic: Traffic, arch: Arch, gemm: np.ndarray, compute: np.ndarray) -> np.ndarray:
    """The busiest buffer's port cycles, spread over a GEMM's steps in proportion to their compute.

    Rounded through cumulative sums, so a step needs no more port cycles than compute cycles
    unless the whole GEMM does, and the steps' sum is the GEMM's total exactly.
    """
    total = np.max([(traffic.buffer_read[b.name] + traffic.buffer_write[b.name]) / b.bytes_per_cycle
                    for b in arch.buffers], axis=0) * g.count
    done = np.cumsum(compute)
    start = done - compute
    first = np.r_[True, np.diff(gemm) != 0]
    offset = start[first][np.cumsum(first) - 1]          # where each step's GEMM starts
    scale = total[gemm] / np.bincount(gemm, compute, minlength=len(g))[gemm]
    tolerance = 1e-9  # keeps float rounding (5.0000000001) from adding a cycle
    return (np.ceil((done - offset) * scale - tolerance) - np.ceil((start - offset) * scale - tolerance)).astype(np.int64)
