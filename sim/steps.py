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


BLOCK = 16384   # steps evaluated at a time: memory stays bounded however long a GEMM's instance is


@dataclass(frozen=True)
class Steps:
    """The steps of one instance of every GEMM, GEMM after GEMM in table order, as runs of
    identical consecutive steps (one entry per run)."""

    gemm: np.ndarray      # row of the GEMM table
    compute: np.ndarray   # array cycles of each step of the run
    load: np.ndarray      # DRAM bytes read before a step can start: its first array tile's share
    stream: np.ndarray    # DRAM bytes read while it computes (it cannot end before they arrive)
    write: np.ndarray     # DRAM bytes written after it ends
    start: np.ndarray     # the run's first step, counted within the instance
    repeat: np.ndarray    # steps in the run
    done_before: np.ndarray  # compute cycles of the instance before the run
    first: np.ndarray     # per GEMM (and one past the last): its first run
    per_instance: np.ndarray  # per GEMM: steps per instance
    instance_compute: np.ndarray  # per GEMM: the compute cycles of one instance
    port_scale: np.ndarray  # per GEMM: the busiest buffer's port cycles per compute cycle
    steady: np.ndarray    # per GEMM: the ports keep up with every step of every instance

    def __len__(self) -> int:
        return len(self.gemm)

    def memory(self, run: int, step: int, instance: int) -> int:
        """Cycles the busiest buffer's ports need for step ``step`` (of run ``run``) in instance
        ``instance`` of its GEMM (the array's compute stretches to this). A GEMM's port cycles
        are spread over its steps in proportion to their compute and rounded through cumulative
        sums, so a step needs no more port cycles than compute cycles unless the whole GEMM does
        (``steady``), and the steps of all instances add up to the GEMM's total exactly."""
        k, compute = self.gemm[run], int(self.compute[run])
        start = (instance * int(self.instance_compute[k]) + int(self.done_before[run])
                 + (step - int(self.start[run])) * compute)
        return _port_share(start, compute, self.port_scale[k], math.ceil)

    def durations(self, k: int, instance: np.ndarray, step: np.ndarray) -> np.ndarray:
        """The array cycles of steps ``step`` of instances ``instance`` of GEMM ``k``: their
        compute, stretched to their :meth:`memory` (vectorised)."""
        lo, hi = self.first[k], self.first[k + 1]
        run = lo + np.searchsorted(self.start[lo:hi], step, side="right") - 1
        compute = self.compute[run]
        start = instance * self.instance_compute[k] + self.done_before[run] + (step - self.start[run]) * compute
        return np.maximum(compute, _port_share(start, compute, self.port_scale[k], np.ceil).astype(np.int64))


def _port_share(start, compute, scale, ceil):
    """Port cycles of the steps that do ``compute`` cycles after ``start`` cycles of their GEMM."""
    return ceil((start + compute) * scale - _TOLERANCE) - ceil(start * scale - _TOLERANCE)


def gemm_steps(g: GemmTable, traffic: Traffic, arch: Arch) -> Steps:
    """The steps of one instance of every GEMM, in table order (evaluated once per distinct GEMM)."""
    twins, twin_of = _distinct(g, traffic)
    g_once, traffic_once = (g, traffic) if len(twins) == len(g) else (g.take(twins), rows_of(traffic, twins))
    units, on_m, extent, per_instance, first_step = _layout(g_once, traffic_once, arch)
    blocks = [_runs(g_once, traffic_once, arch, units, on_m, extent, first_step,
                    np.arange(lo, min(lo + BLOCK, first_step[-1]))) for lo in range(0, int(first_step[-1]), BLOCK)]
    runs = [np.concatenate(column) for column in zip(*blocks)] if blocks else [np.zeros(0, np.int64)] * 7
    once, *columns = _merge_runs(*runs)
    # each GEMM's runs are its distinct twin's
    first_once = np.searchsorted(once, np.arange(len(twins) + 1))
    counts = np.diff(first_once)[twin_of]
    gemm = np.repeat(np.arange(len(g)), counts)
    take = np.arange(len(gemm)) + np.repeat(first_once[:-1][twin_of] - (np.cumsum(counts) - counts), counts)
    compute, load, stream, write, start, repeat = (column[take] for column in columns)
    per_instance = per_instance[twin_of]
    work = compute * repeat
    instance = np.bincount(gemm, work, minlength=len(g)).astype(np.int64)
    done_before = np.cumsum(work) - work - np.r_[0, np.cumsum(instance)][gemm]
    first = np.searchsorted(gemm, np.arange(len(g) + 1))
    scale, steady = _port_scale(g, traffic, arch, gemm, compute, instance)
    return Steps(gemm, compute, load, stream, write, start, repeat, done_before, first, per_instance, instance,
                 scale, steady)


def _distinct(g: GemmTable, traffic: Traffic) -> tuple[np.ndarray, np.ndarray]:
    """The first of each set of GEMMs alike in every column but their layer, their traffic too
    (numbers bit for bit), and per GEMM the index of its set."""
    columns = [np.asarray(getattr(g, name)) for name in g.__dataclass_fields__ if name != "layer"]
    for value in vars(traffic).values():
        columns += [np.asarray(v) for v in value.values()] if isinstance(value, dict) else [np.asarray(value)]
    numeric = [c.dtype.kind in "biuf" for c in columns]
    numbers = [c.astype(np.float64 if c.dtype.kind == "f" else np.int64) for c, n in zip(columns, numeric) if n]
    width = 8 * len(numbers)        # each GEMM's numbers as one string of bytes, beside its texts
    packed = np.stack(numbers, axis=1).tobytes() if numbers else b""
    rows = zip([packed[i * width:(i + 1) * width] for i in range(len(g))],
               *[c.tolist() for c, n in zip(columns, numeric) if not n])
    sets: dict = {}
    twin_of = np.array([sets.setdefault(row, len(sets)) for row in rows], np.int64)
    return np.unique(twin_of, return_index=True)[1], twin_of


def first_step_load(g: GemmTable, traffic: Traffic, arch: Arch) -> float:
    """The DRAM bytes the first step of ``g``'s first GEMM reads before it can start (its
    :attr:`Steps.load`), that step alone evaluated."""
    units, on_m, extent, _, _ = _layout(g, traffic, arch)
    first = np.zeros(1, np.int64)
    return float(_step_bytes(g, traffic, arch, on_m, extent, first, first, np.minimum(units[:1], extent[:1]), first)[0][0])


def _layout(g: GemmTable, traffic: Traffic, arch: Arch):
    """Per GEMM: the units of its streamed axis per step, whether that axis is m, its extent, its
    steps per instance; and each GEMM's first step counted over the table (and one past the last)."""
    units = per_flow(g.flow_code, lambda f, i: f.units_per_step(rows_of(g, i), rows_of(traffic, i), arch))
    on_m = per_flow(g.flow_code, lambda f, i: np.full(len(rows_of(g, i).m), f.stream_axis == "m"))
    extent = np.where(on_m, g.m, g.n)
    per_instance = cdiv(extent, units)
    return units, on_m, extent, per_instance, np.r_[0, np.cumsum(per_instance)]


def _runs(g, traffic, arch, units, on_m, extent, first_step, index):
    """Steps ``index`` (numbered GEMM after GEMM) as runs of identical consecutive steps."""
    gemm = np.searchsorted(first_step, index, side="right") - 1
    j = index - first_step[gemm]  # step in instance
    done = np.minimum((j + 1) * units[gemm], extent[gemm])
    before = np.minimum(j * units[gemm], extent[gemm])
    shape = timing_shape(g, arch)
    machine = Machine.of(arch)

    def cycles(prefix, rows):  # GEMMs ``rows`` cut to the first ``prefix`` units of their streamed axis
        cut = np.maximum(prefix, 1)
        m, n = np.where(on_m[rows], cut, g.m[rows]), np.where(on_m[rows], g.n[rows], cut)
        t = gemm_timing(machine, g.flow_code[rows], Shape(m, n, shape.k[rows], shape.k_dense[rows], shape.chunk[rows],
                                                         shape.interleave[rows]))
        return np.where(prefix > 0, t.cycles, 0)

    # a step's cycles are the increment over the prefix its instance's earlier steps did: the step
    # before's ``done`` (only the block's first step, if not its instance's first, evaluates its own)
    after = cycles(done, gemm)
    head = cycles(before[:1], gemm[:1]) if len(j) and j[0] > 0 else np.zeros(min(len(j), 1), after.dtype)
    compute = after - np.where(j == 0, 0, np.r_[head, after[:-1]])
    load, total, share = _step_bytes(g, traffic, arch, on_m, extent, gemm, j, done, before)
    return _merge_runs(gemm, compute, load, total - load, traffic.dram_write[gemm] * share, j, np.ones(len(j), np.int64))


def _step_bytes(g, traffic, arch, on_m, extent, gemm, j, done, before):
    """Steps ``j`` of GEMMs ``gemm`` (streamed axis done from ``before`` to ``done``): the DRAM
    bytes each reads before it starts, all it reads, and its share of the streamed axis."""
    share = (done - before) / extent[gemm]
    # the operand the streamed axis does not cut (B when m streams, A when n does) is reused by
    # every step; fetched once, it all arrives with each instance's first step
    a_read, b_read = traffic.a_read[gemm], traffic.b_read[gemm]
    reused = np.where(on_m[gemm], b_read, a_read)
    once = np.where(on_m[gemm], traffic.b_fetches[gemm], traffic.a_fetches[gemm]) == 1
    cut = np.where(on_m[gemm], a_read, b_read) * share
    total = cut + np.where(once, np.where(j == 0, reused, 0), reused * share)
    # operands stream in tile by tile: a step starts with its first array tile's share
    tiles = per_flow(g.flow_code[gemm], lambda f, i: f.tiles_per_step(rows_of(g, gemm[i]), (done - before)[i], arch))
    return total / tiles, total, share


def _merge_runs(gemm, compute, load, stream, write, start, repeat):
    """Consecutive runs of one GEMM with the same steps, merged into one."""
    new = np.arange(len(gemm)) == 0
    for column in (gemm, compute, load, stream, write):
        new[1:] |= column[1:] != column[:-1]
    head = np.flatnonzero(new)
    counts = np.add.reduceat(repeat, head) if len(head) else repeat[:0]
    return gemm[head], compute[head], load[head], stream[head], write[head], start[head], counts


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
    is stored per instance or per step."""

    order: list[int]
    start: list[int]          # per position in ``order`` (and the end), its first virtual step
    per_instance: list[int]
    first_run: list[int]      # per GEMM (and one past the last), its first run in :class:`Steps`
    run_start: list[int]      # per run, its first step within the instance

    @classmethod
    def of(cls, steps: Steps, g: GemmTable, order: np.ndarray) -> "Sequence":
        per_instance = steps.per_instance[order]
        return cls(order.tolist(), np.r_[0, np.cumsum(per_instance * g.count[order])].tolist(), per_instance.tolist(),
                   steps.first.tolist(), steps.start.tolist())

    def __len__(self) -> int:
        return self.start[-1]

    def locate(self, i: int) -> tuple[int, int, int, int]:
        """Virtual step ``i`` as (position in ``order``, instance, step within the instance, run)."""
        p = bisect_right(self.start, i) - 1
        instance, j = divmod(i - self.start[p], self.per_instance[p])
        k = self.order[p]
        return p, instance, j, bisect_right(self.run_start, j, self.first_run[k], self.first_run[k + 1]) - 1
