"""What both fidelities report: the per-GEMM statistics they share, the rows, totals and notes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..arch.schema import Arch
from ..dataflow.schedule import Schedule, make_schedule
from ..workloads.trace import Workload
from .cost import GemmCost, gemm_cost
from .side_engines import side_engine_rows

STALL_CAUSES = ("fill_drain", "acc_hazard", "buffer", "dram", "pruning", "update")
_PHASE_ORDER = {"PRUNE": 0, "FF": 1, "BP": 2, "WU": 3, "UPDATE": 4}


@dataclass
class Result:
    """Per layer and phase rows, iteration totals, and notes on what was modelled how."""

    arch: Arch
    workload: Workload
    fidelity: str
    rows: pd.DataFrame
    totals: dict
    notes: list[str] = field(default_factory=list)
    schedule: Schedule | None = None


@dataclass(frozen=True)
class Prepared:
    """A workload scheduled on an arch, with the cost both fidelities start from."""

    schedule: Schedule
    cost: GemmCost
    rows: pd.DataFrame      # per-GEMM statistics; cycles and memory stalls still to be filled in
    side: pd.DataFrame      # side-engine rows (empty for inference)


def prepare(arch: Arch, workload: Workload, schedule: Schedule | None = None) -> Prepared:
    """Schedule ``workload`` (unless a schedule is given) and cost it."""
    schedule = schedule or make_schedule(workload, arch, lambda table: gemm_cost(table, arch).ranking())
    g = schedule.gemms
    c = gemm_cost(g, arch)
    t, tr, cnt = c.timing, c.traffic, g.count
    buffer_bytes = {name: (tr.buffer_read[name] + tr.buffer_write[name]) * cnt for name in tr.buffer_read}
    rows = pd.DataFrame({
        "layer": g.layer, "name": [workload.layers[i].name for i in g.layer], "phase": g.phase,
        "engine": "array", "dataflow": g.dataflow, "chunk": g.chunk, "n_outer": g.n_outer,
        "interleave": g.interleave,
        "pattern": g.pattern,
        "m": g.m, "n": g.n, "k": g.k, "k_eff": g.k_eff, "count": cnt,
        "macs": c.macs, "useful_macs": g.m * g.n * g.k_useful * cnt, "dense_macs": g.m * g.n * g.k * cnt,
        "cycles": 0, "busy": t.busy * cnt,
        "stall_fill_drain": t.fill_drain * cnt, "stall_acc_hazard": t.acc_hazard * cnt,
        "stall_buffer": 0, "stall_dram": 0, "stall_pruning": 0,
        "dram_read_bytes": tr.dram_read * cnt, "dram_write_bytes": tr.dram_write * cnt,
        "compulsory_bytes": tr.compulsory * cnt,
        **{f"buffer_{name}_bytes": v for name, v in buffer_bytes.items()},
        "energy_compute_pj": c.energy_compute_pj,
        "energy_buffer_pj": c.energy_buffer_pj,
        "energy_dram_pj": c.energy_dram_pj,
    })
    return Prepared(schedule, c, rows, side_engine_rows(workload, arch, g))


def finish(arch: Arch, workload: Workload, fidelity: str, prepared: Prepared, gemm_rows: pd.DataFrame,
           side: pd.DataFrame, exposed: dict[str, int]) -> Result:
    """Assemble rows and totals. ``exposed`` holds the pruning and update cycles the iteration
    spends beyond the array rows' cycles."""
    rows = pd.concat([gemm_rows, side], ignore_index=True) if len(side) else gemm_rows.copy()
    rows = rows.fillna({c: 0 for c in rows.columns if c.startswith(("stall_", "energy_", "buffer_"))})
    counted = ["macs", "useful_macs", "dense_macs", "busy", "cycles"] + [c for c in rows.columns if c.startswith("stall_")]
    for col in counted:
        rows[col] = rows[col].fillna(0).astype(np.int64)
    for col in ("m", "n", "k", "k_eff", "count"):  # GEMM shape: absent (<NA>) on side-engine rows
        rows[col] = rows[col].astype("Int64")
    rows = rows.sort_values(["layer", "phase"], key=lambda s: s.map(_PHASE_ORDER) if s.name == "phase" else s,
                            kind="stable").reset_index(drop=True)
    return Result(arch, workload, fidelity, rows, _totals(arch, rows, exposed), _notes(arch, workload, gemm_rows),
                  prepared.schedule)


def _totals(arch: Arch, rows: pd.DataFrame, exposed: dict[str, int]) -> dict:
    on_array = rows[rows.engine == "array"]
    array_cycles_total = int(on_array.cycles.sum())
    cycles = array_cycles_total + sum(exposed.values())
    seconds = cycles / (arch.clock_mhz * 1e6)
    pe_cycles = arch.pes * cycles
    energy_cols = [c for c in rows.columns if c.startswith("energy_")]
    stalls = {f"stall_{c}": int(on_array[f"stall_{c}"].sum()) if f"stall_{c}" in on_array else 0 for c in STALL_CAUSES}
    for cause, value in exposed.items():
        stalls[f"stall_{cause}"] += int(value)
    return {
        "cycles": cycles,
        "time_ms": seconds * 1e3,
        "array_cycles": array_cycles_total,
        "macs": int(on_array.macs.sum()),
        "useful_macs": int(on_array.useful_macs.sum()),
        "dense_macs": int(on_array.dense_macs.sum()),
        "utilisation": on_array.macs.sum() / pe_cycles,
        "effective_utilisation": on_array.useful_macs.sum() / pe_cycles,
        "dense_equivalent_tmacs": on_array.dense_macs.sum() / seconds / 1e12,
        "dram_bytes": float(rows.dram_read_bytes.sum() + rows.dram_write_bytes.sum()),
        "compulsory_bytes": float(rows.compulsory_bytes.sum()),
        **stalls,
        "energy_uj": float(rows[energy_cols].to_numpy().sum()) / 1e6,
        **{f"{c[:-3]}_uj": float(rows[c].sum()) / 1e6 for c in energy_cols},
    }


def _notes(arch: Arch, workload: Workload, gemms: pd.DataFrame) -> list[str]:
    """One note per kind of pattern substitution (a sparse pattern the array cannot run as is)."""
    runs: dict[tuple[str, str], list[str]] = {}
    for layer, phase, name, executed in zip(gemms.layer, gemms.phase, gemms.name, gemms.pattern):
        if phase == "WU":
            continue
        spec = workload.layers[layer]
        want = str(spec.fwd_nm if phase == "FF" else spec.bwd_nm)
        if want != executed and executed != "unstructured":
            runs.setdefault((want, executed), []).append(f"{name} {phase}")
    supported = ", ".join(arch.sparsity.nm_patterns)
    notes = [f"{len(where)} GEMMs with {want} weights run as {got} (the array supports {supported}), "
             f"e.g. {', '.join(where[:3])}" for (want, got), where in runs.items()]
    if workload.meta.sparsity.method == "unstructured" and arch.sparsity.unstructured_format == "none":
        notes.append("unstructured weights run dense: the array stores no unstructured format "
                     "(sparsity.unstructured_format is none)")
    return notes
