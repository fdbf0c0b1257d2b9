"""What both fidelities report: the per-GEMM statistics they share, the rows, totals and notes."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, partial

import numpy as np

from ..arch.schema import Arch
from ..core.reuse import reused
from ..dataflow.schedule import Schedule, make_schedule
from ..workloads.trace import Workload
from ..dataflow.flows import CODES
from .cost import CandidateCost, GemmCost, gemm_cost
from .columns import GEMM_STALLS, STALL_CAUSES, gemm_columns, side_columns, total_names
from .limits import check_results, check_workload
from .records import Table, iteration_order
from .side_engines import side_engine_rows
from .vector import Placement, place_vector_jobs

_SIDE_INTEGERS = ("layer", "cycles", "busy", "stall_dram", "stall_control")


@dataclass
class Result:
    """The array GEMMs and the side-engine jobs of one iteration, its totals, and notes on what
    was modelled how (columns and units: :mod:`.columns`). The tables are numpy columns
    (``gemm_table``, ``side_table``); ``gemms``, ``side`` and ``rows`` are the same as pandas
    DataFrames, made on first use."""

    arch: Arch
    workload: Workload
    fidelity: str
    gemm_table: Table         # one row per array GEMM (layer and phase)
    side_table: Table         # one row per side-engine job (PRUNE, UPDATE per layer) and vector job
    totals: dict
    notes: list[str] = field(default_factory=list)
    schedule: Schedule | None = None

    @cached_property
    def gemms(self):
        """The GEMM table as a DataFrame."""
        return self.gemm_table.frame()

    @cached_property
    def side(self):
        """The side-engine and vector-job table as a DataFrame."""
        if len(self.side_table):
            return self.side_table.frame()
        import pandas as pd

        return pd.DataFrame({c: [] for c in side_columns()}).astype({c: np.int64 for c in _SIDE_INTEGERS})

    @cached_property
    def rows(self):
        """Both tables in one, layer by layer (for printing): GEMM columns are <NA> on side jobs."""
        import pandas as pd

        if not len(self.side):
            return self.gemms
        rows = pd.concat([self.gemms, self.side], ignore_index=True)
        rows = rows.fillna({c: 0 for c in rows.columns
                            if c.startswith(("stall_", "energy_", "buffer_")) or c in ("macs", "useful_macs", "dense_macs")})
        rows = rows.astype({c: np.int64 for c in rows.columns if c.startswith("stall_")}
                           | {c: np.int64 for c in ("macs", "useful_macs", "dense_macs")})
        rows = rows.astype({c: "Int64" for c in ("m", "n", "k", "k_eff", "count", "chunk")})
        return rows.take(iteration_order(rows.layer.to_numpy(), rows.phase.to_numpy())).reset_index(drop=True)


@dataclass(frozen=True)
class Prepared:
    """A workload scheduled on an arch, with the cost both fidelities start from."""

    schedule: Schedule
    cost: GemmCost
    rows: Table             # per-GEMM statistics; cycles and memory stalls still to be filled in
    side: Table             # side-engine rows (empty for inference)
    vector: Placement       # the vector jobs, their costs and places


def prepare(arch: Arch, workload: Workload, schedule: Schedule | None = None) -> Prepared:
    """Schedule ``workload`` (unless a schedule is given) and cost it."""
    reused("workload check", (workload,), arch, (), lambda: check_workload(workload))
    if schedule is None:     # the search costed its choice already, on this arch
        schedule = make_schedule(workload, arch, partial(CandidateCost, arch))
        c = schedule.choice.costing.cost_of(schedule.choice.best) if schedule.choice else gemm_cost(schedule.gemms, arch)
    else:
        c = gemm_cost(schedule.gemms, arch)
    g = schedule.gemms
    t, tr, cnt = c.timing, c.traffic, g.count
    buffer_bytes = {name: (tr.buffer_read[name] + tr.buffer_write[name]) * cnt for name in tr.buffer_read}
    names = [layer.name for layer in workload.layers]
    rows = Table({
        "layer": g.layer, "name": np.array([names[i] for i in g.layer.tolist()], dtype=object), "phase": g.phase,
        "engine": np.where(g.flow_code == CODES["vector_lanes"], "vector", "array"), "dataflow": g.dataflow, "chunk": g.chunk, "n_outer": g.n_outer,
        "interleave": g.interleave,
        "pattern": g.pattern, "stored": g.stored,
        "m": g.m, "n": g.n, "k": g.k, "k_eff": g.k_eff, "count": cnt,
        "macs": c.macs, "useful_macs": g.m * g.n * g.k_useful * cnt, "dense_macs": g.m * g.n * g.k * cnt,
        "cycles": 0, "busy": t.busy * cnt,
        "stall_fill_drain": t.fill_drain * cnt, "stall_acc_hazard": t.acc_hazard * cnt,
        "stall_buffer": 0, "stall_dram": 0, "stall_pruning": 0, "stall_vector": 0, "stall_control": 0,
        "dram_read_bytes": tr.dram_read * cnt, "dram_write_bytes": tr.dram_write * cnt,
        "compulsory_bytes": tr.compulsory * cnt,
        **{f"buffer_{name}_bytes": v for name, v in buffer_bytes.items()},
        "energy_compute_pj": c.energy_compute_pj,
        "energy_movement_pj": c.energy_movement_pj,
        "energy_buffer_pj": c.energy_buffer_pj,
        "energy_dram_pj": c.energy_dram_pj,
    })
    vector = place_vector_jobs(arch, schedule.vector, c.array)
    return Prepared(schedule, c, rows, side_engine_rows(workload, arch, g), vector)


def finish(arch: Arch, workload: Workload, fidelity: str, prepared: Prepared, gemm_rows: Table,
           side: Table, exposed: dict[str, int]) -> Result:
    """Assemble the two tables and the totals, as :mod:`.columns` declares them. ``exposed``
    holds the pruning, update and vector cycles the iteration spends beyond the array rows' cycles;
    ``side`` the side-engine and vector-job rows as the fidelity ran them."""
    gemms = gemm_rows.select(gemm_columns([b.name for b in arch.buffers]))
    for c in ("cycles", "busy", *[f"stall_{s}" for s in GEMM_STALLS]):
        gemms[c] = gemms[c].astype(np.int64, copy=False)      # the take below copies
    gemms = gemms.take(iteration_order(gemms["layer"], gemms["phase"]))
    if len(side):
        side = side.select(side_columns())
        for c in _SIDE_INTEGERS:
            side[c] = side[c].astype(np.int64, copy=False)
        side = side.take(iteration_order(side["layer"], side["phase"]))
    else:
        text = ("name", "phase", "engine")
        side = Table({c: np.zeros(0, np.int64 if c in _SIDE_INTEGERS else object if c in text else float)
                      for c in side_columns()})
    saved = float((prepared.cost.traffic.onchip_saved * prepared.schedule.gemms.count).sum()
                  + sum(job.onchip_saved for job in prepared.vector.jobs))
    totals = _totals(arch, gemms, side, exposed, saved)
    check_results(workload, [gemms, side], totals)
    return Result(arch, workload, fidelity, gemms, side, totals, _notes(arch, workload, gemms), prepared.schedule)


def _totals(arch: Arch, gemms: Table, side: Table, exposed: dict[str, int], onchip_saved: float) -> dict:
    """The iteration's totals (sums in the tables' row order, as pandas would take them)."""
    array_cycles_total = int(gemms["cycles"].sum())
    cycles = array_cycles_total + sum(exposed.values())
    waits = int(gemms["stall_pruning"].sum() + gemms["stall_vector"].sum() + gemms["stall_control"].sum())
    on_vector, on_side = side["engine"] == "vector", side["engine"] != "vector"
    on_array = gemms["engine"] == "array"
    seconds = cycles / (arch.clock_mhz * 1e6)
    pe_cycles = arch.pes * cycles
    stalls = {f"stall_{c}": int(gemms[f"stall_{c}"].sum()) if f"stall_{c}" in gemms else 0 for c in STALL_CAUSES}
    for cause, value in exposed.items():
        stalls[f"stall_{cause}"] += int(value)
    energy = {f"energy_{part}_uj": float(gemms[f"energy_{part}_pj"].sum()) / 1e6
              for part in ("compute", "movement", "buffer")}
    energy["energy_dram_uj"] = float(gemms["energy_dram_pj"].sum() + side["energy_dram_pj"].sum()) / 1e6
    energy["energy_vector_uj"] = float(side["energy_side_pj"][on_vector].sum()) / 1e6
    energy["energy_side_uj"] = float(side["energy_side_pj"][on_side].sum()) / 1e6
    values = {
        "cycles": cycles,
        "time_ms": seconds * 1e3,
        "array_cycles": array_cycles_total,
        "gemm_cycles": array_cycles_total - waits,
        "non_gemm_cycles": cycles - array_cycles_total + waits,
        "vector_busy_cycles": int((side["cycles"][on_vector] - side["stall_control"][on_vector]).sum()),
        "macs": int(gemms["macs"].sum()),
        "useful_macs": int(gemms["useful_macs"].sum()),
        "dense_macs": int(gemms["dense_macs"].sum()),
        "utilisation": gemms["macs"][on_array].sum() / pe_cycles,
        "effective_utilisation": gemms["useful_macs"][on_array].sum() / pe_cycles,
        "dense_equivalent_tmacs": gemms["dense_macs"].sum() / seconds / 1e12,
        "dram_bytes": float(sum(t["dram_read_bytes"].sum() + t["dram_write_bytes"].sum() for t in (gemms, side))),
        "compulsory_bytes": float(gemms["compulsory_bytes"].sum() + side["compulsory_bytes"].sum()),
        "onchip_saved_bytes": onchip_saved,
        **stalls,
        "energy_uj": sum(energy.values()),
        **energy,
    }
    return {name: values[name] for name in total_names()}


def _notes(arch: Arch, workload: Workload, gemms: Table) -> list[str]:
    """One note per kind of pattern substitution (a sparse pattern the array cannot run as is)."""
    runs: dict[tuple[str, str], list[str]] = {}
    texts: dict[tuple[int, int], str] = {}      # each pattern's text by its N and M, made once
    for layer, phase, name, executed in zip(*(gemms[c].tolist() for c in ("layer", "phase", "name", "pattern"))):
        if phase == "WU":
            continue
        spec = workload.layers[layer]
        own = spec.fwd_nm if phase == "FF" else spec.bwd_nm
        want = texts.get((own.n, own.m)) or texts.setdefault((own.n, own.m), str(own))
        if want != executed and executed != "unstructured":
            runs.setdefault((want, executed), []).append(f"{name} {phase}")
    supported = ", ".join(arch.sparsity.nm_patterns)
    notes = [f"{len(where)} GEMMs with {want} weights run as {got} (the array supports {supported}), "
             f"e.g. {', '.join(where[:3])}" for (want, got), where in runs.items()]
    if not workload.ops:
        notes.append("the trace has no non-GEMM operators (no ops.csv): batch-norm, activations, pooling, "
                     "normalisation and the loss are not in these results")
    if workload.meta.sparsity.method == "unstructured" and arch.sparsity.unstructured_format == "none":
        notes.append("unstructured weights run dense: the array stores no unstructured format "
                     "(sparsity.unstructured_format is none)")
    return notes
