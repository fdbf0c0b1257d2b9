"""GEMMs cut into steps: the outer tiles the event engine loads, computes and writes back.

A step cuts a GEMM along its dataflow's streamed axis (:meth:`Dataflow.units_per_step`): a
weight-stationary step is one chunk of rows of A, an input-stationary one a chunk of columns of
B, an output-stationary one as many m-tiles as the input buffer's usable half holds. Repeated
instances of a GEMM (``count``) follow each other. A step's compute cycles are increments of the
one tile-timing function over the prefix done so far, so a GEMM's steps add up to exactly its
analytic array cycles (and are never negative: the timing is monotone). Its DRAM bytes are its
share of the GEMM's traffic, except that the operand the streamed axis does not cut, when
fetched once, is fetched entirely by each instance's first step. A step starts once the share of its operands
that its first array tile needs is in; the rest streams in while it computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.flows import Machine, Shape, per_flow, rows_of
from ..dataflow.flows.base import cdiv
from ..dataflow.gemms import GemmTable
from .cost import timing_shape
from .timing import gemm_timing
from .traffic import Traffic, port_cycles


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
    machine = Machine.of(arch)
    units = per_flow(g.dataflow, lambda f, i: f.units_per_step(rows_of(g, i), rows_of(traffic, i), arch))
    on_m = per_flow(g.dataflow, lambda f, i: np.full(len(rows_of(g, i).m), f.stream_axis == "m"))
    extent = np.where(on_m, g.m, g.n)
    per_instance = cdiv(extent, units)
    gemm = np.repeat(np.arange(len(g)), per_instance)
    j = np.arange(len(gemm)) - np.repeat(np.cumsum(per_instance) - per_instance, per_instance)  # step in instance
    done = np.minimum((j + 1) * units[gemm], extent[gemm])
    before = np.minimum(j * units[gemm], extent[gemm])
    shape = timing_shape(g, arch)
    flows = g.dataflow[gemm]

    def cycles(prefix):  # the GEMM cut to the first ``prefix`` units of its streamed axis
        cut = np.maximum(prefix, 1)
        m, n = np.where(on_m[gemm], cut, g.m[gemm]), np.where(on_m[gemm], g.n[gemm], cut)
        t = gemm_timing(machine, flows, Shape(m, n, shape.k[gemm], shape.k_dense[gemm], shape.chunk[gemm],
                                             shape.interleave[gemm]))
        return np.where(prefix > 0, t.cycles, 0)

    compute = cycles(done) - cycles(before)
    share = (done - before) / extent[gemm]
    # the operand the streamed axis does not cut (B when m streams, A when n does) is reused by
    # every step; fetched once, it all arrives with each instance's first step
    a_read, b_read = traffic.a_read[gemm], traffic.b_read[gemm]
    reused = np.where(on_m[gemm], b_read, a_read)
    once = np.where(on_m[gemm], traffic.b_fetches[gemm], traffic.a_fetches[gemm]) == 1
    cut = np.where(on_m[gemm], a_read, b_read) * share
    total = cut + np.where(once, np.where(j == 0, reused, 0), reused * share)
    # operands stream in tile by tile: a step starts with its first array tile's share
    tiles = per_flow(flows, lambda f, i: f.tiles_per_step(rows_of(g, gemm[i]), (done - before)[i], arch))
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
    total = port_cycles(g, traffic, arch) * g.count
    done = np.cumsum(compute)
    start = done - compute
    first = np.r_[True, np.diff(gemm) != 0]
    offset = start[first][np.cumsum(first) - 1]          # where each step's GEMM starts
    scale = total[gemm] / np.bincount(gemm, compute, minlength=len(g))[gemm]
    tolerance = 1e-9  # keeps float rounding (5.0000000001) from adding a cycle
    return (np.ceil((done - offset) * scale - tolerance) - np.ceil((start - offset) * scale - tolerance)).astype(np.int64)
