"""GEMMs cut into steps: the outer tiles the event engine loads, computes and writes back.

A step cuts a GEMM along its dataflow's streamed axis (:meth:`Dataflow.units_per_step`): a
weight-stationary step is one chunk of rows of A, an input-stationary one a chunk of columns of
B, an output-stationary one as many m-tiles as the input buffer's usable half holds. Repeated
instances of a GEMM (``count``) follow each other and repeat the steps of one instance, which is
all that is stored. A step's compute cycles are increments of the one tile-timing function over
the prefix done so far, so a GEMM's steps add up to exactly its analytic array cycles (and are
never negative: the timing is monotone). Its DRAM bytes are its share of the GEMM's traffic,
except that the operand the streamed axis does not cut, when fetched once, is fetched entirely
by each instance's first step. A step starts once the share of its operands that its first array
tile needs is in; the rest streams in while it computes.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.flows import Machine, Shape, per_flow, rows_of
from ..dataflow.flows.base import cdiv
from ..dataflow.gemms import GemmTable
from .cost import timing_shape
from .timing import gemm_timing
from .traffic import Traffic, port_cycles

_TOLERANCE = 1e-9  # keeps float rounding (5.0000000001) from adding a port cycle


@dataclass(frozen=True)
class Steps:
    """The steps of one instance of every GEMM, GEMM after GEMM in table order."""

    gemm: np.ndarray      # row of the GEMM table
    compute: np.ndarray   # array cycles
    load: np.ndarray      # DRAM bytes read before the step can start: its first array tile's share
    stream: np.ndarray    # DRAM bytes read while it computes (it cannot end before they arrive)
    write: np.ndarray     # DRAM bytes written after it ends
    done_before: np.ndarray  # compute cycles of the instance's earlier steps
    first: np.ndarray     # per GEMM (and one past the last): its first step
    instance_compute: np.ndarray  # per GEMM: the compute cycles of one instance
    port_scale: np.ndarray  # per GEMM: the busiest buffer's port cycles per compute cycle
    steady: np.ndarray    # per GEMM: the ports keep up with every step of every instance

    def __len__(self) -> int:
        return len(self.gemm)

    def memory(self, step: int, instance: int) -> int:
        """Cycles the busiest buffer's ports need for ``step`` in instance ``instance`` of its GEMM
        (the array's compute stretches to this). A GEMM's port cycles are spread over its steps
        in proportion to their compute and rounded through cumulative sums, so a step needs no
        more port cycles than compute cycles unless the whole GEMM does (``steady``), and the
        steps of all instances add up to the GEMM's total exactly."""
        k = self.gemm[step]
        start = instance * int(self.instance_compute[k]) + int(self.done_before[step])
        scale = self.port_scale[k]
        return (math.ceil((start + int(self.compute[step])) * scale - _TOLERANCE)
                - math.ceil(start * scale - _TOLERANCE))


def gemm_steps(g: GemmTable, traffic: Traffic, arch: Arch) -> Steps:
    """The steps of one instance of every GEMM, in table order."""
    machine = Machine.of(arch)
    units = per_flow(g.dataflow, lambda f, i: f.units_per_step(rows_of(g, i), rows_of(traffic, i), arch))
    on_m = per_flow(g.dataflow, lambda f, i: np.full(len(rows_of(g, i).m), f.stream_axis == "m"))
    extent = np.where(on_m, g.m, g.n)
    per_instance = cdiv(extent, units)
    gemm = np.repeat(np.arange(len(g)), per_instance)
    first = np.r_[0, np.cumsum(per_instance)]
    j = np.arange(len(gemm)) - first[gemm]  # step in instance
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
    instance = np.bincount(gemm, compute, minlength=len(g)).astype(np.int64)
    done_before = np.cumsum(compute) - compute - np.r_[0, np.cumsum(instance)][gemm]
    scale, steady = _port_scale(g, traffic, arch, gemm, compute, instance)
    return Steps(gemm, compute, load, total - load, traffic.dram_write[gemm] * share, done_before, first, instance,
                 scale, steady)


def _port_scale(g: GemmTable, traffic: Traffic, arch: Arch, gemm: np.ndarray, compute: np.ndarray,
                instance: np.ndarray):
    """Per GEMM its port cycles per compute cycle, and whether every step's ports keep up with it.

    A step's port cycles are a difference of two roundings up of ``prefix * scale``, so they
    exceed its compute only if ``compute * (1 - scale)`` is below the rounding of the prefix
    (a few ulps of the GEMM's total); ``steady`` asks a margin far above that.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = port_cycles(g, traffic, arch) * g.count / (instance.astype(float) * g.count)
    smallest = np.full(len(g), np.inf)
    np.minimum.at(smallest, gemm[compute > 0], compute[compute > 0])
    smallest[~np.isfinite(smallest)] = 0
    steady = np.isfinite(scale) & ((1 - scale) * smallest >= 1e-12 * instance * g.count + 1e-12)
    return scale, steady


@dataclass(frozen=True)
class Sequence:
    """Every step the array runs, in execution order, as a virtual index ``0 .. len - 1``: the
    GEMM at ``order[p]`` runs its ``count`` instances of its steps from ``start[p]`` on. Nothing
    is stored per instance."""

    order: np.ndarray
    start: list[int]      # per position in ``order`` (and the end), its first virtual step
    per_instance: list[int]

    @classmethod
    def of(cls, steps: Steps, g: GemmTable, order: np.ndarray) -> "Sequence":
        per_instance = np.diff(steps.first)[order]
        return cls(order, np.r_[0, np.cumsum(per_instance * g.count[order])].tolist(), per_instance.tolist())

    def __len__(self) -> int:
        return self.start[-1]

    def locate(self, i: int) -> tuple[int, int, int]:
        """Virtual step ``i`` as (position in ``order``, instance, step within the instance)."""
        p = bisect_right(self.start, i) - 1
        instance, j = divmod(i - self.start[p], self.per_instance[p])
        return p, instance, j
