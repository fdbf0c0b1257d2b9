"""The event fidelity: a discrete-event model (:mod:`.kernel`, simpy's semantics) of one training
iteration in steady state.

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

The instances of a repeated GEMM, and the runs of identical steps within one instance, are
collapsed exactly: the model is invariant under translation in time, so where the whole state at
the start of an instance, or at a step of such a run (every scheduled event and what it wakes,
relative to now; each DRAM channel's backlog; the loader's lead), equals the state at an earlier
point of the same stretch (or, where the ports keep up, one that repeated in an earlier stretch
of the same steps), while nothing but the loader and the array has an event scheduled
(and none wakes more than the loader), the stretch repeats that period: the engine skips as
many whole periods as keep the steps the loader has loaded or is loading inside the stretch,
adding their stalls and moving every scheduled event by their cycles, and steps the rest.
``collapse=False`` steps every step (the same numbers; tests compare the two); a timeline,
which records every step, always does.

Every cycle the array spends is either tile-timing cycles (busy, fill/drain, accumulator
hazard) or a stall by cause: waiting for DRAM (a load, or a free output slot), buffer ports,
pruning. The rest of the statistics (bytes, energy) are the same counted actions as the
analytic path's.
"""
from __future__ import annotations

from operator import itemgetter, sub
from pathlib import Path

import numpy as np

from ..arch.schema import Arch
from ..dataflow.schedule import Schedule
from ..workloads.trace import Workload
from .dram import Dram, moved_bytes, peak_floor
from .kernel import Environment, Resource
from .records import Table
from .results import Result, finish, prepare
from .side_engines import share, sparse_copies
from .steps import BLOCK, Sequence, Steps, gemm_steps
from .timeline import Timeline
from .vector import NONE, Placement

_CAUSES = ("dram", "buffer", "pruning", "vector", "control")
_HISTORY = 512   # states remembered per stretch while looking for a period


def simulate_event(arch: Arch, workload: Workload, timeline_path: Path | None = None,
                   schedule: Schedule | None = None, collapse: bool = True) -> Result:
    p = prepare(arch, workload, schedule)
    g, order = p.schedule.gemms, p.schedule.order
    steps = gemm_steps(g, p.cost.traffic, arch)
    timeline = Timeline(arch.clock_mhz) if timeline_path else None
    env = Environment()
    dram = Dram(arch, timeline)
    last = order[-1] if len(order) else 0
    # the previous iteration's last step (the same as ours) starts at cycle 0 behind the write-back
    # of the step before it, streams its operands and ends once they are in; until then it holds
    # one input slot, and our first loads queue behind its DRAM traffic
    run, step = steps.first[last + 1] - 1, steps.per_instance[last] - 1
    warmup = 0
    if len(order):
        dram.transfer(0, steps.write[_run_before_last(steps, g, order)], write=True)
        warmup = max(int(max(steps.compute[run], steps.memory(run, step, int(g.count[last]) - 1))),
                     dram.transfer(0, steps.stream[run]))
    warm = env.timeout(warmup)
    side = _SideEngines(env, arch, workload, p.side, dram, timeline)
    vector = _VectorEngine(env, arch, p.vector, dram, warm, timeline)
    pipeline = _Pipeline(env, arch, workload, p, steps, dram, side, vector, warm, timeline,
                         collapse and timeline is None)
    env.run()

    rows = p.rows.copy()
    ends = np.array(pipeline.gemm_end, np.int64)[order] - warmup
    rows["cycles"][order] = np.diff(np.r_[0, ends])
    for cause, values in pipeline.stall.items():
        rows[f"stall_{cause}"] = np.array(values, np.int64)
    array_end = int(ends[-1]) if len(ends) else 0
    exposed = side.tail(array_end + warmup, int(env.now), vector.last_end)
    # the window measured (from the previous iteration's last step to this one's) can hold
    # traffic that ran before it; an iteration still repeats in no fewer cycles than its bytes take
    side_rows = side.rows()
    short = peak_floor(arch, *moved_bytes((rows, side_rows, vector.rows))) - int(rows["cycles"].sum()) \
        - sum(exposed.values())
    if short > 0:
        exposed["dram"] = exposed.get("dram", 0) + short
    if timeline:
        timeline.write(timeline_path, offset=warmup)
    return finish(arch, workload, "event", p, rows, Table.concat([side_rows, vector.rows]), exposed)


def _run_before_last(steps, g, order) -> int:
    """The run of the iteration's second-to-last step (its last step's own run if it has one step)."""
    last = order[-1]
    run = steps.first[last + 1] - 1
    if steps.repeat[run] > 1 or (steps.per_instance[last] == 1 and g.count[last] > 1):
        return run                      # the same run: an earlier step of it, or the previous instance
    if steps.per_instance[last] > 1:
        return run - 1                  # the run before, within the instance
    return steps.first[order[-2] + 1] - 1 if len(order) > 1 else run


class _Events(dict):
    """Step -> an event, made when first asked for and tagged (its name, the step)."""

    def __init__(self, env, name: str):
        super().__init__()
        self.env, self.name = env, name

    def __missing__(self, step: int):
        event = self[step] = self.env.event()
        event.tag = (self.name, step)
        return event


class _Pipeline:
    """The DMA loader and the PE array, through every step of the sequence (virtual step indices)."""

    def __init__(self, env: Environment, arch: Arch, workload: Workload, p, steps: Steps, dram: Dram, side,
                 vector, warm, timeline, collapse: bool):
        self.env, self.arch, self.workload, self.dram, self.side, self.vector = env, arch, workload, dram, side, vector
        self.g, self.steps, self.warm, self.timeline, self.collapse = p.schedule.gemms, steps, warm, timeline, collapse
        self.sequence = Sequence.of(steps, self.g, p.schedule.order)
        self.total = len(self.sequence)
        self.compute, self.load = steps.compute.tolist(), steps.load.tolist()
        self.stream, self.write = steps.stream.tolist(), steps.write.tolist()
        self.in_slots = 2 if all(arch.buffer_for(o).double_buffered for o in ("input", "weight")) else 1
        self.out_slots = 2 if arch.buffer_for("output").double_buffered else 1
        self.lookback = max(self.in_slots, self.out_slots)
        self.loaded, self.computed, self.written = _Events(env, "loaded"), _Events(env, "computed"), {}
        self.next_load = 0              # the step the loader loads next
        self.load_wait = None           # the loader's wait for its current load
        n = len(self.g)
        self.stall = {cause: [0] * n for cause in _CAUSES}     # per GEMM, by cause
        self.gemm_end = [0] * n
        self.blockers = p.vector.blockers(n)
        self.on_lanes = (self.g.dataflow == "vector_lanes").tolist()
        self.steady, self.layer, self.phase = steps.steady.tolist(), self.g.layer.tolist(), self.g.phase.tolist()
        self.history: dict = {}         # per kind of stretch: the states seen in the current one
        self.periodic: dict = {}        # (steps of a stretch, state) -> its period, cycles and stalls
        self.runs = list(zip(self.compute, self.load, self.stream, self.write, steps.repeat.tolist()))  # what each does
        self.run_end = (steps.start + steps.repeat).tolist()    # per run: the step after it
        self.loader_process = env.process(self._loader())
        env.process(self._array())

    def _loader(self):
        env, total, timeout, in_slots = self.env, self.total, self.env.timeout, self.in_slots
        computed, loaded, load = self.computed, self.loaded, self.load
        locate, transfer, run_start, run_end = self.sequence.locate, self.dram.transfer, self.sequence.run_start, self.run_end
        lo = hi = 0                                     # the steps [lo, hi) of one run (in one instance) load ``nbytes``
        while self.next_load < total:
            before = self.next_load - in_slots           # the step whose input slot this one reuses
            slot = computed[before] if before >= 0 else self.warm if before == -1 else None
            if slot is not None and not slot.processed:
                yield slot
            if not lo <= self.next_load < hi:           # (a collapse may have moved next_load meanwhile)
                _, _, j, run = locate(self.next_load)
                lo, hi, nbytes = self.next_load - j + run_start[run], self.next_load - j + run_end[run], load[run]
            end = transfer(env.now, nbytes)
            if end > env.now:
                self.load_wait = timeout(end - env.now)
                self.load_wait.tag = ("load", self.next_load)
                yield self.load_wait
                self.load_wait = None
            loaded[self.next_load].succeed()
            self.next_load += 1

    def _array(self):
        env, arch, side, vector, timeline = self.env, self.arch, self.side, self.vector, self.timeline
        timeout, transfer, stall = env.timeout, self.dram.transfer, self.stall
        stall_dram, stall_buffer = stall["dram"], stall["buffer"]
        sequence, steady, layers, phases = self.sequence, self.steady, self.layer, self.phase
        loaded, computed, written = self.loaded, self.computed, self.written
        compute_of, stream, write, run_end = self.compute, self.stream, self.write, self.run_end
        out_slots, lookback, reach, collapse = self.out_slots, self.lookback, self.in_slots + 1, self.collapse
        total, first_steps, order, locate = self.total, sequence.start, sequence.order, sequence.locate
        repeated = (self.g.count > 1).tolist()
        yield self.warm
        i = boundary = 0                        # boundary: the step after step i's run (in its instance)
        while i < total:
            if i < boundary:                    # the next step of the same run
                j += 1
            else:
                position, instance, j, run = locate(i)
                boundary = i + run_end[run] - j
            k = order[position]
            start = env.now
            if instance == 0 and j == 0:
                pruning = side.before_gemm(layers[k], phases[k])
                if pruning is not None:
                    yield pruning
                stall["pruning"][k] += env.now - start
                start = env.now
                if self.blockers[k]:
                    yield env.all_of([vector.done[b] for b in self.blockers[k]])
                if self.on_lanes[k]:                # a GEMM mapped onto the vector engine holds it
                    lanes_held = vector.lanes.request()
                    yield lanes_held
                stall["vector"][k] += env.now - start
                control = arch.control.job_launch_cycles + (arch.control.barrier_cycles if env.now > start else 0)
                stall["control"][k] += control
                yield timeout(control)
                start = env.now
            event = loaded[i]
            if not event.processed:
                yield event
            before = i - out_slots                  # the step whose output slot this one reuses
            if before >= 0 and not written[before].processed:
                yield written[before]
            stall_dram[k] += env.now - start
            # the state's steps (from i - lookback - 1 on) may be earlier GEMMs': it holds their events
            if collapse and i > lookback:
                if j:           # steps identical to this one repeat up to the run's end
                    end = boundary
                    context = ("run", end)
                else:           # instances repeat up to the GEMM's end (a single one does not)
                    end = first_steps[position + 1] if repeated[k] else i
                    context = ("instances", position)
                if end - i > reach and (skipped := self._skip_periods(context, i, k, end, run if j else None)):
                    i += skipped
                    position, instance, j, run = locate(i)
                    boundary = i + run_end[run] - j
            compute = compute_of[run]
            if steady[k]:
                duration = compute
            else:
                duration = max(compute, self.steps.memory(run, j, instance))
                stall_buffer[k] += duration - compute
            if timeline:
                timeline.add("PE array", f"{phases[k]} {self.workload.layers[layers[k]].name}", env.now,
                             env.now + duration)
            streamed = transfer(env.now, stream[run])   # the rest of its operands, tile by tile
            yield timeout(duration)
            if streamed > env.now:
                stall_dram[k] += streamed - env.now
                yield timeout(streamed - env.now)
            computed[i].succeed()
            written[i] = done = timeout(transfer(env.now, write[run], write=True) - env.now)
            done.tag = ("written", i)
            if i == first_steps[position + 1] - 1:     # the GEMM's last step
                self.gemm_end[k] = env.now
                if self.on_lanes[k]:
                    vector.lanes.release(lanes_held)
                vector.release(k)
                if phases[k] == "WU":
                    layer = layers[k]
                    written[i].callbacks.append(lambda _, layer=layer: side.after_weight_gradient(layer))
            gone = i - lookback - 1                 # no process looks this far back
            loaded.pop(gone, None)
            computed.pop(gone, None)
            written.pop(gone, None)
            i += 1

    def _repeating(self, k: int, since: int, period: int, periods: int) -> int:
        """How many of ``periods`` periods from virtual step ``since + period`` on repeat the
        array cycles of the period before them, step for step."""
        position = self.sequence.locate(since)[0]
        per_instance, first = self.sequence.per_instance[position], self.sequence.start[position]
        checked, block = 0, max(period, BLOCK // period * period)
        while checked < periods * period:   # compare [since + period + checked, ...) with one period before
            lo = since + checked
            n = min(block, periods * period - checked)
            x = np.arange(lo, lo + period + n) - first
            cycles = self.steps.durations(k, x // per_instance, x % per_instance)
            differ = np.flatnonzero(cycles[period:] != cycles[:-period])
            if len(differ):
                return (checked + int(differ[0])) // period
            checked += n
        return periods

    def _stretch(self, k: int, run: int | None) -> tuple:
        """What the steps of a stretch do: run ``run``'s step, or each run of GEMM ``k``'s instance."""
        if run is not None:
            return self.runs[run]
        return ("instances", *self.runs[self.steps.first[k]:self.steps.first[k + 1]])

    def _state(self, i: int):
        """What decides everything from virtual step ``i`` (about to compute) on, given the steps
        ahead, relative to now: the channels' backlog, each scheduled event (when, and which event
        of the steps from ``i - lookback - 1`` to the loader's it is), the loader's lead and what
        it waits for. (Which other events of those steps exist and are processed follows: steps
        before ``i`` are loaded and computed, their write-backs made, the loader's steps loaded,
        none of these scheduled is processed.) None when anything else is scheduled (a side-engine
        or vector job runs) or wakes more than the loader (a layer's last write-back, its update)."""
        now, lo, hi, target = self.env.now, i - self.lookback - 1, self.next_load, self.loader_process.target
        scheduled = []
        for time, priority, event in self.env.pending():
            tag = getattr(event, "tag", None)
            if tag is None or not lo <= tag[1] <= hi or len(event.callbacks) > (event is target):
                return None
            scheduled.append((time - now, priority, tag[0], tag[1] - i))
        if target is None:
            waits_for = None
        else:
            tag = getattr(target, "tag", None)
            if tag is None or not lo <= tag[1] <= hi:
                return None
            waits_for = (tag[0], tag[1] - i)
        return self.dram.backlog(now), tuple(scheduled), self.next_load - i, waits_for

    def _skip_periods(self, context: tuple, i: int, k: int, end: int, run: int | None) -> int:
        """At virtual step ``i`` of GEMM ``k``, where the steps up to ``end`` repeat with a period
        of whole steps (of run ``run``) or instances (run None; ``context`` names the stretch): if
        the state repeats one seen at an earlier point of the stretch, or one that repeated in an
        earlier stretch of the same steps (ports keeping up), skip as many whole such periods as
        leave every step the loader has issued inside it; the steps skipped."""
        state = self._state(i)
        if state is None:
            return 0
        history = self.history.setdefault(context[0], {})
        if history.get("context") != context:
            history.clear()
            history["context"] = context
        stalls = tuple(map(itemgetter(k), self.stall.values()))     # by cause, in _CAUSES order
        seen = history.get(state)
        steps = self._stretch(k, run) if self.steady[k] else None
        if seen is None:
            known = self.periodic.get((steps, state))
            if steps is None or known is None:
                if len(history) > _HISTORY:
                    history.clear()
                    history["context"] = context
                history[state] = (i, self.env.now, stalls)
                return 0
            period, each, gained = known
        else:
            then_step, then, then_stalls = seen
            period, each = i - then_step, self.env.now - then
            gained = tuple(map(sub, stalls, then_stalls))
            if steps is not None:
                self.periodic[steps, state] = period, each, gained
        # every step the loader has loaded or is loading must still be in the stretch, and the
        # loader must still have a step to wait for (after the last one it returns)
        issued = self.next_load + (self.load_wait is not None)      # the steps with their load issued
        periods = (min(end, self.total - 1 + (self.load_wait is not None)) - issued) // period
        if not self.steady[k]:    # where the ports stretch steps, their cycles must repeat too
            periods = self._repeating(k, then_step, period, periods)
        if periods < 1:
            return 0
        for cause, more in zip(_CAUSES, gained):
            self.stall[cause][k] += periods * more
        cycles, skipped = periods * each, periods * period
        self.env.translate(cycles)
        self.dram.translate(cycles)
        kept = i - self.lookback - 1
        for name, events in (("loaded", self.loaded), ("computed", self.computed), ("written", self.written)):
            held = list(events.items())
            events.clear()
            for step, event in held:
                if step >= kept:
                    step += skipped
                    events[step] = event
                    event.tag = (name, step)
        self.next_load += skipped
        if self.load_wait is not None:
            self.load_wait.tag = ("load", self.next_load)
        history.clear()
        return skipped


class _VectorEngine:
    """The vector engine: its jobs in schedule order, each once the GEMM it waits for is done;
    a job's DRAM reads and writes queue on the channels with everything else."""

    def __init__(self, env, arch: Arch, placement: Placement, dram: Dram, warm, timeline):
        self.env, self.arch, self.p, self.dram, self.timeline = env, arch, placement, dram, timeline
        self.released = [warm if k == NONE else env.event() for k in placement.wait_for]
        self.jobs_after: dict[int, list[int]] = {}      # per GEMM, the jobs waiting for it
        for j, k in enumerate(np.asarray(placement.wait_for).tolist()):
            self.jobs_after.setdefault(k, []).append(j)
        self.done = [env.event() for _ in placement.jobs]
        self.rows = placement.rows.copy()
        self.lanes = Resource(env, 1)      # held by each job, and by a GEMM mapped onto the lanes
        self.last_end = 0
        env.process(self._run())

    def release(self, gemm: int) -> None:
        for j in self.jobs_after.get(gemm, ()):
            self.released[j].succeed()

    def _run(self):
        launch = self.arch.control.job_launch_cycles
        cycles, stall_dram = np.zeros(len(self.done), np.int64), np.zeros(len(self.done), np.int64)
        busy_cycles = self.rows["busy"].tolist()
        for j, job in enumerate(self.p.jobs):
            if not self.released[j].processed:
                yield self.released[j]
            held = self.lanes.request()
            yield held
            start = self.env.now
            busy = int(busy_cycles[j])
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

    def __init__(self, env, arch: Arch, workload: Workload, side: Table, dram: Dram, timeline):
        self.env, self.arch, self.workload, self.dram, self.timeline = env, arch, workload, dram, timeline
        self.side = side
        empty = not len(side)
        self.busy = [] if empty else side["busy"].tolist()
        self.read, self.write = ([], []) if empty else (side["dram_read_bytes"].tolist(), side["dram_write_bytes"].tolist())
        self.cycles, self.stall_dram = [0] * len(side), [0] * len(side)
        self.pruner, self.updater = Resource(env, 1), Resource(env, 1)
        self.index = {} if empty else {key: i for i, key in enumerate(zip(side["layer"].tolist(), side["phase"].tolist()))}
        self.last_finish = ("update", 0)

    def _job(self, resource, key, part: int, parts: int, engine: str):
        """Run part ``part`` of ``parts`` of a side-engine row's work (engine time beside its DRAM traffic)."""
        i = self.index[key]
        with resource.request() as request:
            yield request
            start = self.env.now
            busy = share(int(self.busy[i]), parts, part)
            read = self.dram.transfer(start, self.read[i] / parts)
            end = max(start + busy, read, self.dram.transfer(start, self.write[i] / parts, write=True))
            yield self.env.timeout(end - start)
        self.cycles[i] += end - start
        self.stall_dram[i] += end - start - busy
        if self.timeline:
            self.timeline.add(engine, f"{key[1]} {self.workload.layers[key[0]].name}", start, end)
        if end >= self.last_finish[1]:
            self.last_finish = ("pruning" if key[1] == "PRUNE" else "update", end)

    def before_gemm(self, layer: int, phase: str):
        """Without pre-generation, the job pruning this GEMM's sparse copy first (on the critical
        path; None if there is none)."""
        if self.arch.dataflow_options.pregenerate or (layer, "PRUNE") not in self.index:
            return None
        copies = sparse_copies(self.workload.layers[layer])
        if phase not in copies:
            return None
        return self.env.process(self._job(self.pruner, (layer, "PRUNE"), copies.index(phase), len(copies), "pruning unit"))

    def after_weight_gradient(self, layer: int):
        if (layer, "UPDATE") in self.index:
            self.env.process(self._update_then_prune(layer))

    def _update_then_prune(self, layer: int):
        yield from self._job(self.updater, (layer, "UPDATE"), 0, 1, "update engine")
        if self.arch.dataflow_options.pregenerate and (layer, "PRUNE") in self.index:
            yield from self._job(self.pruner, (layer, "PRUNE"), 0, 1, "pruning unit")

    def rows(self) -> Table:
        if not len(self.side):
            return self.side
        rows = self.side.copy()
        rows["cycles"], rows["stall_dram"] = np.array(self.cycles, np.int64), np.array(self.stall_dram, np.int64)
        return rows

    def tail(self, array_end: int, makespan: int, vector_end: int) -> dict[str, int]:
        """Cycles after the array's last step, charged to the engine that finished last."""
        tail = makespan - array_end
        cause, end = max([self.last_finish, ("vector", vector_end)], key=lambda c: c[1])
        return {cause if end >= makespan else "dram": tail}
