"""The event fidelity: a simpy model of one training iteration in steady state.

Engines: the DMA (one FIFO per DRAM channel), the input/weight and output buffers (two slots each
when double-buffered, else one), the PE array, the pruning unit and the weight-update engine.
The array runs the GEMMs in training order (FF for layers 0..L-1, then BP and WU from L-1 down
to 0) as steps (:mod:`.steps`); the operands a step's first tile needs are loaded while earlier
steps compute, as far as buffer slots allow, across GEMM boundaries; the rest stream in while it
computes (it cannot end before they arrive); its outputs are written back while later steps
compute. A step computes for its exact tile-timing cycles, stretched when the buffers' ports
cannot keep up. After a layer's WU the update engine updates its weights; with pre-generation
the pruning unit then prunes them into their sparse copies, otherwise each FF and BP waits for
its copy to be pruned first. The iteration is in steady state: its first step's operands load
while the previous iteration's last step (taken to be the same as this one's) computes and holds
one input slot, its streamed operands ahead of ours on the DRAM channels (so our loads use only
the DRAM time it leaves idle); the iteration ends when every engine is done.

Every cycle the array spends is either tile-timing cycles (busy, fill/drain, accumulator
hazard) or a stall by cause: waiting for DRAM (a load, or a free output slot), buffer ports,
pruning. The rest of the statistics (bytes, energy) are the same counted actions as the
analytic path's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from ..arch.schema import Arch
from ..dataflow.schedule import Schedule
from ..workloads.trace import Workload
from .dram import Dram
from .results import Result, finish, prepare
from .side_engines import share, sparse_copies
from .steps import gemm_steps
from .timeline import Timeline
from .vector import NONE, Placement


def simulate_event(arch: Arch, workload: Workload, timeline_path: Path | None = None,
                   schedule: Schedule | None = None) -> Result:
    p = prepare(arch, workload, schedule)
    g, order = p.schedule.gemms, p.schedule.order
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    steps = gemm_steps(g, p.cost.traffic, arch)
    perm = np.argsort(rank[steps.gemm], kind="stable")
    gemm, compute, memory = steps.gemm[perm], steps.compute[perm], steps.memory[perm]
    load, stream, write = steps.load[perm], steps.stream[perm], steps.write[perm]
    last = np.r_[gemm[1:] != gemm[:-1], True]

    timeline = Timeline(arch.clock_mhz) if timeline_path else None
    env = simpy.Environment()
    dram = Dram(arch, timeline)
    in_slots = 2 if all(arch.buffer_for(o).double_buffered for o in ("input", "weight")) else 1
    out_slots = 2 if arch.buffer_for("output").double_buffered else 1
    # the previous iteration's last step (the same as ours) starts at cycle 0 behind the write-back
    # of the step before it, streams its operands and ends once they are in; until then it holds
    # one input slot, and our first loads queue behind its DRAM traffic
    dram.transfer(0, write[-2 if len(write) > 1 else -1], write=True)
    warmup = max(int(max(compute[-1], memory[-1])), dram.transfer(0, stream[-1]))
    warm = env.timeout(warmup)
    count = len(gemm)
    loaded = [env.event() for _ in range(count)]
    computed = [env.event() for _ in range(count)]
    written: list = [None] * count
    n = len(g)
    stall = {cause: np.zeros(n, np.int64) for cause in ("dram", "buffer", "pruning", "vector", "control")}
    gemm_end = np.zeros(n, np.int64)
    side = _SideEngines(env, arch, workload, p.side, dram, timeline)
    vector = _VectorEngine(env, arch, p.vector, dram, warm, timeline)
    blockers = p.vector.blockers(n)
    on_lanes = g.dataflow == "vector_lanes"

    def loader():
        for i in range(count):
            before = i - in_slots                   # the step whose input slot this one reuses
            slot = computed[before] if before >= 0 else warm if before == -1 else None
            if slot is not None and not slot.processed:
                yield slot
            end = dram.transfer(env.now, load[i])
            if end > env.now:
                yield env.timeout(end - env.now)
            loaded[i].succeed()

    def array():
        yield warm
        for i in range(count):
            k = gemm[i]
            start = env.now
            if i == 0 or gemm[i - 1] != k:
                yield from side.before_gemm(int(g.layer[k]), g.phase[k])
                stall["pruning"][k] += env.now - start
                start = env.now
                if blockers[k]:
                    yield env.all_of([vector.done[j] for j in blockers[k]])
                if on_lanes[k]:                     # a GEMM mapped onto the vector engine holds it
                    lanes_held = vector.lanes.request()
                    yield lanes_held
                stall["vector"][k] += env.now - start
                control = arch.control.job_launch_cycles + (arch.control.barrier_cycles if env.now > start else 0)
                stall["control"][k] += control
                yield env.timeout(control)
                start = env.now
            if not loaded[i].processed:
                yield loaded[i]
            before = i - out_slots                  # the step whose output slot this one reuses
            if before >= 0 and not written[before].processed:
                yield written[before]
            stall["dram"][k] += env.now - start
            duration = max(int(compute[i]), int(memory[i]))
            stall["buffer"][k] += duration - compute[i]
            if timeline:
                timeline.add("PE array", f"{g.phase[k]} {workload.layers[g.layer[k]].name}", env.now, env.now + duration)
            streamed = dram.transfer(env.now, stream[i])   # the rest of its operands, tile by tile
            yield env.timeout(duration)
            if streamed > env.now:
                stall["dram"][k] += streamed - env.now
                yield env.timeout(streamed - env.now)
            computed[i].succeed()
            written[i] = env.timeout(dram.transfer(env.now, write[i], write=True) - env.now)
            if last[i]:
                gemm_end[k] = env.now
                if on_lanes[k]:
                    vector.lanes.release(lanes_held)
                vector.release(k)
                if g.phase[k] == "WU":
                    layer = int(g.layer[k])
                    written[i].callbacks.append(lambda _, layer=layer: side.after_weight_gradient(layer))

    env.process(loader())
    env.process(array())
    env.run()

    rows = p.rows.copy()
    ends = gemm_end[order] - warmup
    rows.loc[order, "cycles"] = np.diff(np.r_[0, ends])
    for cause, values in stall.items():
        rows[f"stall_{cause}"] = values
    array_end = int(ends[-1]) if len(ends) else 0
    exposed = side.tail(array_end + warmup, int(env.now), vector.last_end)
    if timeline:
        timeline.write(timeline_path, offset=warmup)
    return finish(arch, workload, "event", p, rows, pd.concat([side.rows(), vector.rows], ignore_index=True), exposed)


class _VectorEngine:
    """The vector engine: its jobs in schedule order, each once the GEMM it waits for is done;
    a job's DRAM reads and writes queue on the channels with everything else."""

    def __init__(self, env, arch: Arch, placement: Placement, dram: Dram, warm, timeline):
        self.env, self.arch, self.p, self.dram, self.timeline = env, arch, placement, dram, timeline
        self.released = [warm if k == NONE else env.event() for k in placement.wait_for]
        self.done = [env.event() for _ in placement.jobs]
        self.rows = placement.rows.copy()
        self.lanes = simpy.Resource(env, 1)      # held by each job, and by a GEMM mapped onto the lanes
        self.last_end = 0
        env.process(self._run())

    def release(self, gemm: int) -> None:
        for j in np.flatnonzero(self.p.wait_for == gemm):
            self.released[j].succeed()

    def _run(self):
        launch = self.arch.control.job_launch_cycles
        cycles, stall_dram = np.zeros(len(self.done), np.int64), np.zeros(len(self.done), np.int64)
        for j, job in enumerate(self.p.jobs):
            if not self.released[j].processed:
                yield self.released[j]
            held = self.lanes.request()
            yield held
            start = self.env.now
            busy = int(self.rows.busy.iat[j])
            read = self.dram.transfer(start + launch, job.read_bytes)
            written = self.dram.transfer(start + launch, job.write_bytes, write=True)
            end = max(start + launch + busy, read, written)
            yield self.env.timeout(end - start)
            self.lanes.release(held)
            cycles[j], stall_dram[j] = end - start, end - start - launch - busy
            if self.timeline:
                self.timeline.add("vector engine", f"{job.phase} {job.name}", start, end)
            self.last_end = end
            self.done[j].succeed()
        self.rows["cycles"], self.rows["stall_dram"] = cycles, stall_dram


class _SideEngines:
    """The pruning unit and the weight-update engine, each one job at a time."""

    def __init__(self, env, arch: Arch, workload: Workload, side: pd.DataFrame, dram: Dram, timeline):
        self.env, self.arch, self.workload, self.dram, self.timeline = env, arch, workload, dram, timeline
        self.side = side.copy()
        if len(side):
            self.side["cycles"] = 0
            self.side["stall_dram"] = 0
        self.pruner, self.updater = simpy.Resource(env, 1), simpy.Resource(env, 1)
        self.index = {(r.layer, r.phase): i for i, r in enumerate(self.side.itertuples())} if len(side) else {}
        self.last_finish = ("update", 0)

    def _job(self, resource, key, part: int, parts: int, engine: str):
        """Run part ``part`` of ``parts`` of a side-engine row's work (engine time beside its DRAM traffic)."""
        i = self.index[key]
        row = self.side.iloc[i]
        with resource.request() as request:
            yield request
            start = self.env.now
            busy = share(int(row.busy), parts, part)
            read = self.dram.transfer(start, row.dram_read_bytes / parts)
            end = max(start + busy, read, self.dram.transfer(start, row.dram_write_bytes / parts, write=True))
            yield self.env.timeout(end - start)
        self.side.iat[i, self.side.columns.get_loc("cycles")] += end - start
        self.side.iat[i, self.side.columns.get_loc("stall_dram")] += end - start - busy
        if self.timeline:
            self.timeline.add(engine, f"{key[1]} {self.workload.layers[key[0]].name}", start, end)
        if end >= self.last_finish[1]:
            self.last_finish = ("pruning" if key[1] == "PRUNE" else "update", end)

    def before_gemm(self, layer: int, phase: str):
        """Without pre-generation, prune this GEMM's sparse copy first (on the critical path)."""
        copies = sparse_copies(self.workload.layers[layer])
        if self.arch.dataflow_options.pregenerate or phase not in copies or (layer, "PRUNE") not in self.index:
            return
        yield self.env.process(self._job(self.pruner, (layer, "PRUNE"), copies.index(phase), len(copies), "pruning unit"))

    def after_weight_gradient(self, layer: int):
        if (layer, "UPDATE") in self.index:
            self.env.process(self._update_then_prune(layer))

    def _update_then_prune(self, layer: int):
        yield from self._job(self.updater, (layer, "UPDATE"), 0, 1, "update engine")
        if self.arch.dataflow_options.pregenerate and (layer, "PRUNE") in self.index:
            yield from self._job(self.pruner, (layer, "PRUNE"), 0, 1, "pruning unit")

    def rows(self) -> pd.DataFrame:
        return self.side

    def tail(self, array_end: int, makespan: int, vector_end: int) -> dict[str, int]:
        """Cycles after the array's last step, charged to the engine that finished last."""
        tail = makespan - array_end
        cause, end = max([self.last_finish, ("vector", vector_end)], key=lambda c: c[1])
        return {cause if end >= makespan else "dram": tail}
