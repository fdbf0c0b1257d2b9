"""The analytic fidelity: closed-form cycles per layer and phase, vectorised over all GEMMs.

Each array GEMM is bounded by three resources, roofline-style: the PE array
(:func:`~sparseloom.sim.timing.array_cycles`), the buffers' peak bandwidth and DRAM bandwidth.
Its cycles are the largest of the three; the excess over the array is reported as a buffer or
DRAM stall. The side engines (pruning unit, weight-update engine) run beside the array. Without
pre-generation each FF and BP first waits for its weight copy to be pruned (a pruning stall in
its row); otherwise side work is exposed only where the backward pass is too short to hide it,
plus the first layer's update (and its pruning), which the next iteration's first GEMM waits for.
The vector engine's jobs (non-GEMM operators) take their places by :func:`.vector.list_schedule`:
the array waits for a job where a GEMM needs its result. The iteration takes no fewer cycles than
its DRAM bytes allow (:func:`_dram_floor`); what the overlaps leave below that is exposed DRAM time.
"""
from __future__ import annotations

import numpy as np

from ..arch.schema import Arch
from ..dataflow.schedule import Schedule
from ..workloads.trace import Workload
from .records import Table
from .results import Result, finish, prepare
from .side_engines import share, sparse_copies
from .dram import dram_cycles, moved_bytes, peak_floor
from .steps import first_step_load
from .vector import list_schedule
from ..dataflow.flows import CODES, rows_of


def simulate_analytic(arch: Arch, workload: Workload, schedule: Schedule | None = None) -> Result:
    p = prepare(arch, workload, schedule)
    rows = p.rows.select(p.rows.names)      # its columns are replaced below, never changed in place
    c = p.cost
    rows["cycles"] = c.cycles
    rows["stall_buffer"] = np.maximum(0, np.ceil(c.buffer_cycles) - c.array).astype(np.int64)
    rows["stall_dram"] = c.cycles - c.array - rows["stall_buffer"]
    backward = int(c.cycles[p.schedule.gemms.phase != "FF"].sum())
    exposed = _exposed_side_cycles(arch, p.side, backward)
    if not arch.dataflow_options.pregenerate:  # each FF/BP waits for its copy's pruning
        rows["stall_pruning"] = _pruning_waits(workload, p.side, rows)
        rows["cycles"] = rows["cycles"] + rows["stall_pruning"]
        exposed["pruning"] = 0
    pruning = rows["stall_pruning"]
    first_load = _first_load_cycles(arch, p)
    waits, control, hidden, tail = list_schedule(p.vector, p.schedule.order, rows["cycles"] - pruning, arch,
                                                 pruning, rows["stall_dram"], _prefetch(p, first_load),
                                                 p.schedule.gemms.flow_code == CODES["vector_lanes"])
    rows["stall_vector"], rows["stall_control"] = waits, control
    rows["stall_dram"] = rows["stall_dram"] - hidden
    rows["cycles"] = rows["cycles"] + (waits + control - hidden)
    exposed["vector"] = tail
    exposed["dram"] = max(0, _dram_floor(arch, rows, p, first_load) - int(rows["cycles"].sum()) - sum(exposed.values()))
    return finish(arch, workload, "analytic", p, rows, Table.concat([p.side, p.vector.rows]), exposed)


def _first_load_cycles(arch: Arch, p) -> float:
    """DRAM cycles of the operands the first GEMM's first step needs before it starts."""
    if not len(p.schedule.order):
        return 0.0
    first = p.schedule.order[:1]
    return float(dram_cycles(arch, first_step_load(rows_of(p.schedule.gemms, first), rows_of(p.cost.traffic, first), arch), 0))


def _prefetch(p, first_load: float) -> int:
    """The first load's cycles that overlap the previous iteration's last GEMM: only the DRAM
    time that GEMM leaves idle (its cycles beyond its own DRAM cycles; a DRAM-bound one, none)."""
    if not len(p.schedule.order):
        return 0
    last = p.schedule.order[-1]
    return min(int(np.ceil(first_load)), max(0, int(p.cost.cycles[last]) - int(np.ceil(p.cost.dram_cycles[last]))))


def _dram_floor(arch: Arch, rows: Table, p, first_load: float) -> int:
    """The fewest cycles the iteration's DRAM bytes (GEMMs, vector jobs, side engines) allow, which
    the overlaps above can undercut (they charge the vector jobs' DRAM use nowhere): their bytes at
    all channels' peak, and their DRAM time (:mod:`.dram`) less the first load, which may run
    before the iteration starts, in DRAM time the previous one leaves idle (as in the event fidelity)."""
    read, write = moved_bytes((rows, p.side, p.vector.rows))
    return max(peak_floor(arch, read, write), int(np.ceil(dram_cycles(arch, read, write) - first_load)))


def _pruning_waits(workload: Workload, side: Table, rows: Table) -> np.ndarray:
    """Per GEMM row, the cycles it waits for its weight copy: its layer's PRUNE job cut by
    :func:`share` into one part per copy, in the order of :func:`sparse_copies`."""
    waits = np.zeros(len(rows), np.int64)
    if not len(side):
        return waits
    prune = side["phase"] == "PRUNE"
    total, pruned = np.zeros(len(workload.layers), np.int64), np.zeros(len(workload.layers), bool)
    total[side["layer"][prune]], pruned[side["layer"][prune]] = side["cycles"][prune], True
    copies = [sparse_copies(layer) for layer in workload.layers]
    position = {p: np.array([c.index(p) if p in c else -1 for c in copies]) for p in ("FF", "BP")}
    layer, phase = rows["layer"], rows["phase"]
    index = np.where(phase == "FF", position["FF"][layer], np.where(phase == "BP", position["BP"][layer], -1))
    at = pruned[layer] & (index >= 0)
    parts = np.array([len(c) for c in copies])[layer[at]]
    waits[at] = share(total[layer[at]], parts, index[at])
    return waits


def _exposed_side_cycles(arch: Arch, side: Table, backward: int) -> dict[str, int]:
    """Cycles the pruning unit and the update engine add to the iteration's critical path."""
    if not len(side):
        return {"pruning": 0, "update": 0}
    layer, cycles = side["layer"], side["cycles"]
    prune, update = side["phase"] == "PRUNE", side["phase"] == "UPDATE"
    first = layer[update].min()  # its update (and pruning) gates the next iteration's first GEMM
    tail_update = int(cycles[update & (layer == first)].sum())
    tail_prune = int(cycles[prune & (layer == first)].sum())
    update_backlog = int(cycles[update].sum()) - tail_update
    if not arch.dataflow_options.pregenerate:
        return {"pruning": int(cycles[prune].sum()), "update": tail_update + max(0, update_backlog - backward)}
    prune_backlog = int(cycles[prune].sum()) - tail_prune
    excess = max(0, max(update_backlog, prune_backlog) - backward)
    if prune_backlog > update_backlog:
        return {"pruning": tail_prune + excess, "update": tail_update}
    return {"pruning": tail_prune, "update": tail_update + excess}
