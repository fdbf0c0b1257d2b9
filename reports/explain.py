"""`simulate ... --explain LAYER`: the mapping chosen for each phase of a layer, and why."""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..sim.cost import gemm_cost
from ..sim.results import Result
from .table import SHORT_DATAFLOW, _fmt


def explain_text(result: Result, layer_name: str) -> str:
    names = [layer.name for layer in result.workload.layers]
    if layer_name not in names:
        close = [n for n in names if layer_name.lower() in n.lower()][:8] or names[:8]
        raise InputError("--explain", "", f"no layer {layer_name!r} in {result.workload.meta.name}; "
                                          f"layers include {', '.join(close)}")
    index = names.index(layer_name)
    schedule, arch = result.schedule, result.arch
    lines = [f"layer {layer_name} of {result.workload.meta.name} on {arch.name} ({result.fidelity} fidelity); "
             + ("mappings from the offline search (cost: cycles, then DRAM bytes, then energy)"
                if schedule.choice else "offline scheduling off: the fixed default mapping per phase")]
    for row in result.rows[(result.rows.layer == index) & (result.rows.engine == "array")].itertuples():
        gemm = int(np.flatnonzero((schedule.gemms.layer == index) & (schedule.gemms.phase == row.phase))[0])
        lines += ["", f"{row.phase}: GEMM M={row.m} N={row.n} K={row.k} ({row.pattern}, executes K={row.k_eff})"
                  + (f" x{row.count}" if row.count > 1 else "")]
        lines.append(f"  result    cycles {row.cycles:,}: busy {row.busy:,}, fill/drain {row.stall_fill_drain:,}, "
                     f"adder hazard {row.stall_acc_hazard:,}, buffer {row.stall_buffer:,}, DRAM {row.stall_dram:,}, "
                     f"pruning {row.stall_pruning:,}; DRAM read {_fmt(row.dram_read_bytes, 'B')}, "
                     f"written {_fmt(row.dram_write_bytes, 'B')} (compulsory {_fmt(row.compulsory_bytes, 'B')})")
        chosen = schedule.gemms.take(np.array([gemm]))
        if schedule.choice is None:
            lines.append("  mapping   " + _mapping(chosen, arch))
            continue
        ranking = schedule.choice.ranking(gemm)
        shown = [("chosen", ranking[0])]
        if len(ranking) > 1:
            shown.append(("runner-up", ranking[1]))
        flows = schedule.choice.candidates.dataflow
        other = [c for c in ranking if flows[c] != flows[ranking[0]]]
        if other and other[0] not in ranking[:2]:
            shown.append(("best " + SHORT_DATAFLOW[flows[other[0]]], other[0]))
        lines.append(f"  {len(ranking)} legal mappings ranked by the analytic cost:")
        for label, pick in shown:
            candidate = schedule.choice.candidates.take(np.array([pick]))
            cost = gemm_cost(candidate, arch)
            lines.append(f"  {label:<10}{_mapping(candidate, arch)}")
            lines.append(f"  {'':<10}cycles {int(cost.cycles[0]):,} (array {int(cost.array[0]):,}), "
                         f"DRAM {_fmt(float(cost.dram_bytes[0]), 'B')}, energy {cost.energy_pj[0] / 1e6:,.1f} uJ")
    return "\n".join(lines)


def _mapping(table, arch) -> str:
    flow = SHORT_DATAFLOW[table.dataflow[0]]
    order = "columns of B outermost" if table.n_outer[0] else "rows of A outermost"
    if flow == "WS":
        chunks = -(-int(table.m[0]) // int(table.m_tile[0]))
        return (f"weight-stationary, A in {chunks} chunk(s) of {int(table.m_tile[0]):,} rows, "
                f"{-(-int(table.k_eff[0]) // arch.array.rows)} x {-(-int(table.n[0]) // arch.array.cols)} weight tiles, "
                f"{order}")
    return (f"output-stationary, {-(-int(table.m[0]) // arch.array.rows)} x {-(-int(table.n[0]) // arch.array.cols)} "
            f"output tiles, K={int(table.k_eff[0]):,} streamed, {order}")
