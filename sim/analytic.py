"""The analytic simulator: closed-form cycles, traffic and energy per layer and phase.

Each array GEMM is bounded by three resources, roofline-style: the PE array
(:func:`~sparseloom.sim.timing.array_cycles`), the buffers' peak bandwidth and DRAM bandwidth.
Its cycles are the largest of the three; the excess over the array is reported as a buffer or
DRAM stall. The side engines (pruning unit, weight-update engine) run beside the array: pruning
sits on the critical path unless pre-generation is on; otherwise side work is exposed only where
the backward pass is too short to hide it, plus the first layer's update (and its pruning), which
the next iteration's first GEMM waits for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..arch.schema import Arch
from ..dataflow.gemms import build_gemms
from ..workloads.trace import Workload
from .side_engines import side_engine_rows
from .timing import array_cycles
from .traffic import gemm_traffic

STALL_CAUSES = ("fill_drain", "acc_hazard", "buffer", "dram", "pruning", "update")


@dataclass
class Result:
    """Per layer and phase rows, iteration totals, and notes on what was modelled how."""

    arch: Arch
    workload: Workload
    rows: pd.DataFrame
    totals: dict
    notes: list[str] = field(default_factory=list)


def simulate(arch: Arch, workload: Workload) -> Result:
    """Simulate one iteration of ``workload`` on ``arch`` (analytic fidelity)."""
    gemm_rows = _gemm_rows(arch, workload)
    side = side_engine_rows(workload, arch)
    rows = pd.concat([gemm_rows, side], ignore_index=True) if len(side) else gemm_rows
    rows = rows.fillna({c: 0 for c in rows.columns if c.startswith(("stall_", "energy_", "buffer_"))})
    for col in ("macs", "useful_macs", "dense_macs", "busy"):
        rows[col] = rows[col].fillna(0).astype(np.int64)
    for col in ("m", "n", "k", "k_eff", "count"):  # GEMM shape: absent (<NA>) on side-engine rows
        rows[col] = rows[col].astype("Int64")
    rows = rows.sort_values(["layer", "phase"], key=lambda s: s.map(_order) if s.name == "phase" else s,
                            kind="stable").reset_index(drop=True)
    return Result(arch, workload, rows, _totals(arch, workload, rows), _notes(arch, workload, gemm_rows))


_PHASE_ORDER = {"PRUNE": 0, "FF": 1, "BP": 2, "WU": 3, "UPDATE": 4}


def _order(phase: str) -> int:
    return _PHASE_ORDER[phase]


def _gemm_rows(arch: Arch, workload: Workload) -> pd.DataFrame:
    g = build_gemms(workload, arch)
    a = arch.array
    t = array_cycles(a.rows, a.cols, g.dataflow == "weight_stationary", g.m, g.n, g.k_eff,
                     a.accumulator_latency_cycles, arch.dataflow_options.interleave, a.weight_double_buffer, g.m_tile)
    tr = gemm_traffic(g, arch)
    cnt = g.count
    array = t.cycles * cnt
    buffer_bytes = {name: (tr.buffer_read[name] + tr.buffer_write[name]) * cnt for name in tr.buffer_read}
    buffer_cycles = np.max([buffer_bytes[b.name] / b.bytes_per_cycle for b in arch.buffers], axis=0)
    dram = tr.dram * cnt
    dram_cycles = dram / arch.dram_bytes_per_cycle
    cycles = np.ceil(np.maximum.reduce([array, buffer_cycles, dram_cycles])).astype(np.int64)
    stall_buffer = np.maximum(0, np.ceil(buffer_cycles) - array)
    macs = g.m * g.n * g.k_eff * cnt
    e = arch.energy
    buf_read = sum(tr.buffer_read.values()) * cnt
    buf_write = sum(tr.buffer_write.values()) * cnt
    frame = {
        "layer": g.layer, "name": [workload.layers[i].name for i in g.layer], "phase": g.phase,
        "engine": "array", "dataflow": g.dataflow, "pattern": g.pattern,
        "m": g.m, "n": g.n, "k": g.k, "k_eff": g.k_eff, "count": cnt,
        "macs": macs, "useful_macs": g.m * g.n * g.k_useful * cnt, "dense_macs": g.m * g.n * g.k * cnt,
        "cycles": cycles, "busy": t.busy * cnt,
        "stall_fill_drain": t.fill_drain * cnt, "stall_acc_hazard": t.acc_hazard * cnt,
        "stall_buffer": stall_buffer, "stall_dram": cycles - array - stall_buffer,
        "dram_read_bytes": tr.dram_read * cnt, "dram_write_bytes": tr.dram_write * cnt,
        "compulsory_bytes": tr.compulsory * cnt,
        **{f"buffer_{name}_bytes": v for name, v in buffer_bytes.items()},
        "energy_compute_pj": macs * e.mac_pj,
        "energy_buffer_pj": (buf_read * e.buffer_read_pj_per_byte + buf_write * e.buffer_write_pj_per_byte),
        "energy_dram_pj": dram * e.dram_pj_per_byte,
    }
    return pd.DataFrame(frame)


def _totals(arch: Arch, workload: Workload, rows: pd.DataFrame) -> dict:
    on_array = rows[rows.engine == "array"]
    array_cycles_total = int(on_array.cycles.sum())
    backward = int(on_array[on_array.phase != "FF"].cycles.sum())
    exposed_prune, exposed_update = _exposed_side_cycles(arch, rows, backward)
    cycles = array_cycles_total + exposed_prune + exposed_update
    seconds = cycles / (arch.clock_mhz * 1e6)
    pe_cycles = arch.pes * cycles
    energy_cols = [c for c in rows.columns if c.startswith("energy_")]
    totals = {
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
        **{f"stall_{c}": int(on_array[f"stall_{c}"].sum()) for c in STALL_CAUSES[:4]},
        "stall_pruning": int(exposed_prune),
        "stall_update": int(exposed_update),
        "energy_uj": float(rows[energy_cols].to_numpy().sum()) / 1e6,
        **{f"{c[:-3]}_uj": float(rows[c].sum()) / 1e6 for c in energy_cols},
    }
    return totals


def _exposed_side_cycles(arch: Arch, rows: pd.DataFrame, backward: int) -> tuple[int, int]:
    """Cycles the pruning unit and the update engine add to the iteration's critical path."""
    prune, update = rows[rows.phase == "PRUNE"], rows[rows.phase == "UPDATE"]
    if not len(update):
        return 0, 0
    first = update.layer.min()  # its update (and pruning) gates the next iteration's first GEMM
    tail_update = int(update[update.layer == first].cycles.sum())
    tail_prune = int(prune[prune.layer == first].cycles.sum())
    update_backlog = int(update.cycles.sum()) - tail_update
    if not arch.dataflow_options.pregenerate:
        return int(prune.cycles.sum()), tail_update + max(0, update_backlog - backward)
    prune_backlog = int(prune.cycles.sum()) - tail_prune
    excess = max(0, max(update_backlog, prune_backlog) - backward)
    if prune_backlog > update_backlog:
        return tail_prune + excess, tail_update
    return tail_prune, tail_update + excess


def _notes(arch: Arch, workload: Workload, gemms: pd.DataFrame) -> list[str]:
    """One note per kind of pattern substitution (a sparse pattern the array cannot run as is)."""
    declared = {(layer.name, "FF"): layer.fwd_nm for layer in workload.layers}
    declared.update({(layer.name, "BP"): layer.bwd_nm for layer in workload.layers})
    runs: dict[tuple[str, str], list[str]] = {}
    for row in gemms[gemms.phase != "WU"].itertuples():
        want = str(declared[(row.name, row.phase)])
        if want != row.pattern:
            runs.setdefault((want, row.pattern), []).append(f"{row.name} {row.phase}")
    supported = ", ".join(arch.sparsity.nm_patterns)
    return [f"{len(where)} GEMMs with {want} weights run as {got} (the array supports {supported}), "
            f"e.g. {', '.join(where[:3])}" for (want, got), where in runs.items()]


def speedup_over_dense(arch: Arch, workload: Workload, sparse: Result | None = None) -> dict:
    """Speedup of the workload over dense training/inference on the same arch, with its ideal bound.

    The ideal is the dense MACs over the workload's useful MACs: what a perfect N:M array reaches.
    """
    sparse = sparse or simulate(arch, workload)
    dense = simulate(arch, workload.densified())
    return {"dense_cycles": dense.totals["cycles"], "speedup": dense.totals["cycles"] / sparse.totals["cycles"],
            "ideal_speedup": sparse.totals["dense_macs"] / sparse.totals["useful_macs"]}
