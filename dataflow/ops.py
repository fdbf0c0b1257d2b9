"""The non-GEMM operators as vector-engine jobs: passes, bytes, lane cycles, fusion, placement.

Each operator of a trace (:mod:`sparseloom.workloads.ops`) is one or more *passes* over its
tensor on the vector engine. A pass reads its main input (``x`` forward, ``dy`` backward) and the
operator's other operands, and the last pass writes its output and any side tensor (ReLU's
1-bit mask, max-pool's 1-byte argmax). Per element of ``E`` (input) or ``O`` (output), in the
activation datatype:

==========  ======================================  =========================================
kind        forward (training)                       backward
==========  ======================================  =========================================
bn          2 passes (statistics; apply): x; y       2 passes (two reductions; apply): dy, x; dx
relu        x; y + mask                              dy, mask; dx
add         x, x2; y                                 the fork's sum: dy, dy2; dx
maxpool     x; y (O) + argmax (O)                    dy (O), argmax (O); dx (E)
avgpool     x; y (O)                                 dy (O); dx (E)
softmax     x; y (the row stays on chip)             y, dy; dx
layernorm   x; y (the row stays on chip)             x, dy; dx
gelu        x; y                                     x, dy; dx
scale       x; y                                     dy; dx
loss        logits; the loss                         logits; dlogits
rmsnorm     x; y (the row stays on chip)             x, dy; dx
silu        x; y                                     x, dy; dx
mul         x, x2; y                                 dy, x, x2; dx, dx2
embedding   the rows looked up; y                    dy; the table's gradient rows
==========  ======================================  =========================================

Inference runs forward only, batch-norm as one affine pass and ReLU without its mask. A residual
add's backward is the sum where the two gradients of its input meet (the fork), counted here.

Fusion (the arch's ``vector_engine.fusion``): ``none`` runs each operator as its own job. Under
``bn_relu`` the elementwise operators (ReLU, add, scaling) of a group (the operators between two
GEMMs) join their neighbour: one that follows a host operator (BN+ReLU, BN+add+ReLU) adds its
operands and work to the host's last pass and writes the output instead of it; one that comes
before the first host (scaling before softmax, the residual add before a LayerNorm) replaces the
host's main input on every pass, and an add keeps writing its sum (the residual stream goes on).
Backward, the same runs fuse in the reverse roles, and a fused add writes the gradient that forks
to the shortcut. ``array_output`` fuses as ``bn_relu`` and also
runs a group's first forward pass in the array's output path while the GEMM produces it: it reads
no main input from DRAM and its time overlaps the GEMM's (batch-norm's statistics are gathered
there; its apply pass must wait for the whole batch). A job's time is the larger of its lane
cycles and its DRAM time; :mod:`sparseloom.sim` places it. Where a group's tensor is resident
on chip (:mod:`.residency`) its forward jobs read it from the buffer (and in inference leave
their output there). A lane streams each element of a pass
through the fused operators' stages, so a fused pass costs its slowest operator's cycles per
element (elements x cycles per element / lanes), not their sum.
"""
from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

import numpy as np

from ..arch.schema import Arch
from ..core.reuse import reused
from ..workloads.ops import Op
from ..workloads.trace import Workload
from .residency import resident_outputs

OP_CLASS = {"bn": "normalize", "layernorm": "normalize", "relu": "elementwise", "add": "elementwise",
            "scale": "elementwise", "gelu": "transcendental", "softmax": "transcendental",
            "loss": "transcendental", "maxpool": "pooling", "avgpool": "pooling", "rmsnorm": "normalize",
            "silu": "transcendental", "mul": "elementwise", "embedding": "elementwise"}
"""The cost class (``vector_engine.cycles_per_element``) of each operator kind."""

ELEMENTWISE = {"relu", "add", "scale", "mul"}
NONE = -1


class Passes(NamedTuple):
    """One operator in one direction, per instance of the whole batch (bytes, lane-cycles)."""

    passes: int
    main_in: float      # bytes of the main input, read by every pass
    extra_in: float     # bytes of the other operands, read by every pass
    out: float          # bytes of the output, written by the last pass
    side_out: float     # bytes of side tensors (mask, argmax, a kept residual sum), last pass
    work: float         # lane-cycles of one pass
    elements: float     # lane operations of one pass (for energy)


def op_passes(op: Op, backward: bool, arch: Arch, batch: int, training: bool) -> Passes:
    """The passes of ``op`` over the whole batch (table in the module docstring)."""
    b = arch.operand_bytes
    n = batch * op.repeat
    E, O = op.elements * n, op.out_elements * n
    cost = getattr(arch.vector_engine.cycles_per_element, OP_CLASS[op.kind])
    kind = op.kind
    if not backward:
        passes = 2 if kind == "bn" and training else 1
        extra = E * b if kind in ("add", "mul") else 0.0
        side = (E / 8 if kind == "relu" and training else 0.0) + (O if kind == "maxpool" and training else 0.0)
        out = 4.0 * n if kind == "loss" else O * b
        return Passes(passes, E * b, extra, out, side, E * cost, E)
    if kind in ("maxpool", "avgpool"):
        extra = O if kind == "maxpool" else 0.0
        return Passes(1, O * b, extra, E * b, 0.0, E * cost, E)
    passes = 2 if kind == "bn" else 1
    extra = 0.0 if kind in ("scale", "loss", "embedding") else E / 8 if kind == "relu" else 2 * E * b if kind == "mul" \
        else E * b
    out = 2 * E * b if kind == "mul" else E * b          # a product's gradient goes to both factors
    return Passes(passes, E * b, extra, out, 0.0, E * cost, E)


class VectorJob(NamedTuple):
    """Operators run together as one job on the vector engine (a named tuple: jobs of one shape
    are copies under another name and layer)."""

    name: str            # the operators' names joined by "+"
    kinds: str           # their kinds joined by "+"
    layer: int           # the GEMM layer the group follows (-1: before the first GEMM)
    phase: str           # "FF" or "BP"
    read_bytes: float
    write_bytes: float
    lane_cycles: float   # all passes' lane-cycles (divide by the lanes for cycles)
    lane_ops: float      # all passes' lane operations (energy)
    epilogue_cycles: float  # lane-cycles run in the array's output path, overlapping the GEMM
    onchip_saved: float = 0.0  # DRAM bytes a resident activation saves


def vector_jobs(workload: Workload, arch: Arch, resident: np.ndarray | None = None) -> list[VectorJob]:
    """Every vector job of one iteration: forward groups in order, then backward groups.
    ``resident``: per layer, whether its output stays on chip (default :func:`.resident_outputs`)."""
    training = workload.meta.mode == "training"
    batch = workload.meta.batch_size
    index = {layer.name: i for i, layer in enumerate(workload.layers)}
    groups: dict[int, list[Op]] = {}
    for op in workload.ops:
        groups.setdefault(index.get(op.after, -1), []).append(op)
    fusion = arch.vector_engine.fusion
    resident = (resident_outputs(workload, arch) if resident is None else resident).tolist()
    runs = {layer: _runs(ops, fusion != "none") for layer, ops in groups.items()}
    jobs, shapes = [], {}
    for backward in (False, True) if training else (False,):
        for layer in sorted(runs, reverse=backward):
            if backward and layer < 0:
                continue        # operators before the first GEMM need no gradient
            onchip = not backward and layer >= 0 and resident[layer]
            for run in runs[layer][::-1] if backward else runs[layer]:
                first = fusion == "array_output" and not backward and run.ops[0] is groups[layer][0]
                # runs of one shape (all but the operators' names) share their job's numbers
                key = (run.shape, backward, first, onchip)
                job = shapes.get(key)
                if job is None:
                    passes = [op_passes(op, backward, arch, batch, training) for op in run.ops]
                    job = shapes[key] = _fuse(run, passes, backward, layer, first, onchip, onchip and not training)
                else:
                    job = VectorJob(run.name, job.kinds, layer, *job[3:])
                jobs.append(job)
    return jobs


_op_shape = attrgetter("kind", "elements", "out_elements", "channels", "repeat")
"""What an operator's passes depend on: every column of its row but the name and the layer it follows."""


class _Run(NamedTuple):
    ops: list[Op]
    host: int           # position of the host operator in ``ops``
    name: str           # the operators' names joined by "+"
    shape: tuple        # what its job's numbers depend on (the operators' shapes and the host)


def _run(ops: list[Op], host: int) -> _Run:
    return _Run(ops, host, "+".join(op.name for op in ops), (tuple(map(_op_shape, ops)), host))


def _runs(ops: list[Op], fuse: bool) -> list[_Run]:
    """Cut a group into jobs: each host with the elementwise operators fused around it."""
    if not fuse:
        return [_run([op], 0) for op in ops]
    hosts = [i for i, op in enumerate(ops) if op.kind not in ELEMENTWISE] or [0]
    runs, start = [], 0
    for number, host in enumerate(hosts):
        end = hosts[number + 1] if number + 1 < len(hosts) else len(ops)
        runs.append(_run(ops[start:end], host - start))
        start = end
    return runs


def _fuse(run: _Run, passes: list[Passes], backward: bool, layer: int, epilogue: bool,
          onchip_in: bool = False, onchip_out: bool = False) -> VectorJob:
    """One job of a run. Forward, the operators before the host feed it and those after it
    take its output; backward the roles swap (the gradient flows the other way). ``onchip_in``:
    the main input is a resident activation (:mod:`.residency`), read from the buffer;
    ``onchip_out``: the output stays there too (inference)."""
    host, n = passes[run.host], passes[run.host].passes
    feed, take = passes[:run.host], passes[run.host + 1:]
    if backward:
        feed, take = take[::-1], feed[::-1]
    # a fused add's result also leaves for the other branch: forward the residual stream an add
    # before the host carries on; backward the gradient an add after the host forks to the shortcut
    fused_adds = range(run.host + 1, len(passes)) if backward else range(run.host)
    kept = sum([passes[i].out for i in fused_adds if run.ops[i].kind == "add"])
    # the sums below add in the same order with or without fused operators (``+ 0`` where none)
    main, per_pass_in, per_pass_work, per_pass_ops = host.main_in, host.main_in + 0, host.work, host.elements + 0
    if feed:
        main = feed[0].main_in
        per_pass_in = main + sum([p.extra_in for p in feed])
        per_pass_work = max([host.work] + [p.work for p in feed])
        per_pass_ops = host.elements + sum([p.elements for p in feed])
    per_pass_in += host.extra_in
    reads, out, last, take_ops = n * per_pass_in + 0, host.out, per_pass_work, 0
    if take:
        reads = n * per_pass_in + sum([p.extra_in for p in take])
        out = take[-1].out
        last = max([per_pass_work] + [p.work for p in take])          # the fused operators' stages
        take_ops = sum([p.elements for p in take])
    writes = out + sum([p.side_out for p in passes]) + kept
    saved = (n * main if onchip_in else 0.0) + (out if onchip_out else 0.0)
    reads -= n * main if onchip_in else 0.0
    writes -= out if onchip_out else 0.0
    work = (n - 1) * per_pass_work + last
    lane_ops = n * per_pass_ops + take_ops
    hidden = 0.0
    if epilogue:   # the first pass reads the GEMM's output on its way out of the array
        reads -= 0 if onchip_in else main
        hidden = per_pass_work if n > 1 else last
    return VectorJob(run.name, "+".join(op.kind for op in run.ops), layer,
                     "BP" if backward else "FF", reads, writes, work, lane_ops, hidden, saved)


@dataclass(frozen=True)
class JobPlaces:
    """The vector jobs of a schedule and, per job, the GEMM row it waits for and the GEMM row that
    waits for it (``NONE``: none)."""

    jobs: list[VectorJob]
    wait_for: np.ndarray
    blocks: np.ndarray


JOB_INPUTS = ("operand_bytes", "vector_engine.cycles_per_element", "vector_engine.fusion")
"""The arch values :func:`vector_jobs` reads given the resident outputs (:func:`~sparseloom.core.reuse.reused`)."""


def place_jobs(workload: Workload, arch: Arch, g, order: np.ndarray) -> JobPlaces:
    """Where each vector job sits among the GEMMs ``g`` (run in ``order``).

    A forward job waits for the GEMM of the layer its group follows, and the next layer's forward
    GEMM waits for it (a group after the last layer holds the first backward GEMM). A backward
    job waits for the next layer's backward-data GEMM, which produces its gradient, and holds its
    own layer's first backward GEMM: it overlaps the next layer's weight-gradient GEMM, the only
    independent array work.
    """
    last = len(workload.layers) - 1
    # a layer's output is resident where the next layer's forward GEMM reads its input on chip
    resident = np.zeros(last + 1, bool)
    resident[g.layer[(g.phase == "FF") & g.a_onchip] - 1] = True
    jobs = reused("vector jobs", (workload,), arch, JOB_INPUTS, lambda: vector_jobs(workload, arch, resident),
                  resident.tobytes())
    # per layer (and one past the last) the row of its FF, BP and WU GEMM, NONE where it has none
    row = {phase: np.full(last + 2, NONE, np.int64) for phase in ("FF", "BP", "WU")}
    for phase, rows in row.items():
        at = np.flatnonzero(g.phase == phase)
        rows[g.layer[at]] = at
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    # per layer the first of its backward GEMMs to run
    bp_first = (row["BP"] != NONE) & ((row["WU"] == NONE) | (rank[row["BP"]] < rank[row["WU"]]))
    first_backward = np.where(bp_first, row["BP"], row["WU"])
    layer = np.array([job.layer for job in jobs], np.int64)
    forward = np.array([job.phase == "FF" for job in jobs], bool)
    producer = np.where(row["BP"] != NONE, row["BP"], row["WU"])[layer + 1]
    backward_wait = np.where((layer == last) | (producer == NONE), row["FF"][layer], producer)
    wait_for = np.where(forward, np.where(layer >= 0, row["FF"][layer], NONE), backward_wait)
    after = row["FF"][layer + 1]
    blocks = np.where(forward, np.where(after != NONE, after, first_backward[last]), first_backward[layer])
    return JobPlaces(jobs, wait_for, blocks)
