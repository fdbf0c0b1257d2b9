"""Vector-engine jobs in the schedule: their cycles, DRAM bytes, energy, and the analytic placement.

A job (:func:`sparseloom.dataflow.ops.vector_jobs`, placed by the schedule:
:func:`sparseloom.dataflow.ops.place_jobs`) takes ``job_launch_cycles`` plus the larger of its
lane cycles and its DRAM time (:mod:`.dram`). The engine runs its jobs one at a time in the
schedule's order. A GEMM that waits for a job pays ``barrier_cycles`` on top; every GEMM pays
``job_launch_cycles``.

The analytic fidelity places the jobs by this list schedule with each GEMM's analytic cycles
(DRAM shared between an overlapping job and GEMM is not charged there; the event fidelity does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.ops import NONE, JobPlaces, VectorJob
from .dram import dram_cycles
from .records import Table


@dataclass(frozen=True)
class Placement:
    """Per job: the GEMM row it waits for and the GEMM row that waits for it (``NONE``: none)."""

    jobs: list[VectorJob]
    rows: Table               # one side-table row per job (engine ``vector``)
    wait_for: np.ndarray
    blocks: np.ndarray

    def blockers(self, n_gemms: int) -> list[list[int]]:
        """Per GEMM row, the jobs it waits for."""
        out: list[list[int]] = [[] for _ in range(n_gemms)]
        for j, k in enumerate(self.blocks):
            if k != NONE:
                out[k].append(j)
        return out


def place_vector_jobs(arch: Arch, placement: JobPlaces, gemm_array_cycles: np.ndarray) -> Placement:
    """The schedule's vector jobs with their costs (``gemm_array_cycles``: each GEMM's array
    cycles, which an output-path job overlaps)."""
    jobs, wait_for, blocks = placement.jobs, placement.wait_for, placement.blocks
    field = dict(zip(VectorJob._fields, zip(*jobs) if jobs else [()] * len(VectorJob._fields)))  # each field's values
    lanes = arch.vector_engine.lanes
    lane_cycles = np.array(field["lane_cycles"], float)
    epilogue_cycles = np.array(field["epilogue_cycles"], float)
    busy = np.ceil((lane_cycles - epilogue_cycles) / lanes).astype(np.int64)
    epilogue = np.ceil(epilogue_cycles / lanes).astype(np.int64)
    wait_for = np.asarray(wait_for)
    producer_cycles = np.where(wait_for != NONE, np.asarray(gemm_array_cycles)[np.maximum(wait_for, 0)] if len(gemm_array_cycles)
                               else 0, 0).astype(np.int64)
    busy += np.maximum(0, epilogue - producer_cycles)    # an output path slower than the array holds it up
    read, write = np.array(field["read_bytes"], float), np.array(field["write_bytes"], float)
    memory = np.ceil(dram_cycles(arch, read, write)).astype(np.int64) if len(jobs) else np.zeros(0, np.int64)
    launch = arch.control.job_launch_cycles
    stall_dram = np.maximum(0, memory - busy)
    e = arch.energy
    rows = Table({
        "layer": np.array(field["layer"], np.int64), "name": np.array(field["name"], object),
        "phase": np.array(field["phase"], object), "engine": np.full(len(jobs), "vector", object),
        "cycles": launch + busy + stall_dram, "busy": busy, "stall_dram": stall_dram,
        "stall_control": np.full(len(jobs), launch, np.int64),
        "dram_read_bytes": read, "dram_write_bytes": write, "compulsory_bytes": read + write,
        "energy_side_pj": np.array(field["lane_ops"], float) * e.vector_pj_per_element,
        "energy_dram_pj": (read + write) * e.dram_pj_per_byte,
    })
    return Placement(jobs, rows, wait_for, blocks)


def list_schedule(p: Placement, order: np.ndarray, gemm_cycles: np.ndarray, arch: Arch, before: np.ndarray,
                  stall_dram: np.ndarray, prefetch: int = 0, on_lanes: np.ndarray | None = None):
    """Analytic placement: per GEMM row its wait for vector jobs, its control cycles and the DRAM
    stall it hides, and the vector tail after the last GEMM. Jobs run in order on one engine,
    GEMMs in ``order``; a GEMM's ``before`` cycles (waiting for its weights' pruning) pass while
    the vector engine works. DRAM traffic overlaps the array's waits (for jobs and its control
    cycles, during which the event fidelity's loads run on): the GEMM before a wait writes
    its results back during it and the GEMM after it loads its operands, so up to the wait comes
    off their DRAM stalls (``stall_dram``); the vector tail after the last GEMM is such a wait
    between the last GEMM and the next iteration's first (steady state), and the first GEMM also
    loads the ``prefetch`` cycles its first step's operands take while the previous iteration's
    last GEMM computes (as the event fidelity starts; the caller caps them at the DRAM time that
    GEMM leaves idle). The vector jobs' own DRAM use is not charged against that overlap, so this
    stays a lower bound of the event fidelity (the caller floors the iteration at what its DRAM
    bytes allow). A GEMM ``on_lanes`` (mapped onto the vector engine) first lets the jobs already released finish and
    holds the engine until it ends."""
    n = len(gemm_cycles)
    # the loop runs on Python integers (the same values as the int64 columns, faster one at a time)
    gemm_cycles, before, stall_dram = (np.asarray(x, np.int64).tolist() for x in (gemm_cycles, before, stall_dram))
    on_lanes = np.asarray(on_lanes).tolist() if on_lanes is not None else [False] * n
    job_cycles, wait_for = p.rows["cycles"].tolist(), np.asarray(p.wait_for).tolist()
    launch, barrier = arch.control.job_launch_cycles, arch.control.barrier_cycles
    hidden = [0] * n
    job_end = [-1] * len(p.jobs)
    gemm_end = [0] * n
    waits, control = [0] * n, [launch] * n
    blockers = p.blockers(n)
    vector_free, next_job = 0, 0    # when the vector engine is free, the next job it runs
    ran = [False] * n

    def run_jobs_through(last_job: int, released_only: bool = False):
        nonlocal vector_free, next_job
        while next_job <= last_job:
            producer = wait_for[next_job]
            if released_only and producer != NONE and not ran[producer]:
                return
            start = max(vector_free, gemm_end[producer] if producer != NONE else 0)
            job_end[next_job] = vector_free = start + job_cycles[next_job]
            next_job += 1

    array_free = 0
    order = np.asarray(order).tolist()
    for k in order:
        array_free += before[k]
        if blockers[k]:
            run_jobs_through(max(blockers[k]))
            ready = max([job_end[j] for j in blockers[k]])
            if ready > array_free:
                waits[k] = ready - array_free
                control[k] += barrier
        if on_lanes[k]:
            run_jobs_through(len(p.jobs) - 1, released_only=True)
            waits[k] = max(waits[k], vector_free - array_free)
        array_free = gemm_end[k] = array_free + waits[k] + control[k] + gemm_cycles[k]
        ran[k] = True
        if on_lanes[k]:
            vector_free = array_free
    run_jobs_through(len(p.jobs) - 1)
    tail = max(0, max(job_end) - array_free) if len(p.jobs) else 0
    # DRAM traffic overlaps the array's waits (jobs, control): the GEMM before a wait writes back
    # into it, the one after loads into what is left. Wait i comes before GEMM order[i]; wait n is
    # the vector tail (the last GEMM writes back into it, the next iteration's first loads), n + 1
    # the prefetch. A wait next to no GEMM with a DRAM stall hides nothing and is skipped.
    last = len(order)
    stalled = [i for i, k in enumerate(order) if stall_dram[k]]
    visit = {j for i in stalled for j in (i, i + 1)} | ({last, last + 1} if stalled and stalled[0] == 0 else set())
    for i in sorted(visit):
        if i < last:
            before_wait, after_wait = order[i - 1] if i else NONE, order[i]
            budget = waits[after_wait] + control[after_wait]
        else:
            before_wait, after_wait, budget = (order[-1], order[0], tail) if i == last else (NONE, order[0], prefetch)
        for k in (before_wait, after_wait):
            if k != NONE and budget > 0:
                used = min(stall_dram[k] - hidden[k], int(budget))
                hidden[k] += used
                budget -= used
    waits, control, hidden = (np.array(x, np.int64) for x in (waits, control, hidden))
    return waits, control, hidden, tail
