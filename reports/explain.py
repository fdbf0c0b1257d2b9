"""`simulate ... --explain LAYER`: the mapping chosen for each phase of a layer, and why."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..core.errors import InputError
from ..dataflow.flows import flow
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
             + ("mappings from the offline search (cost: cycles, then array cycles, DRAM bytes, energy)"
                if schedule.choice else f"mappings from the schedule file {schedule.source}" if schedule.source
                else "offline scheduling off: the fixed default mapping per phase")]
    table = result.gemm_table
    for i in np.flatnonzero(table["layer"] == index):
        row = SimpleNamespace(**{c: table[c][i:i + 1].tolist()[0] for c in table.names})
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
        for name in arch.mapping_dataflows:   # the best of every other dataflow, beside the chosen
            best = next((c for c in ranking if flows[c] == name), None)
            if best is not None and best not in ranking[:2] and name != flows[ranking[0]]:
                shown.append(("best " + SHORT_DATAFLOW[name], best))
        lines.append(f"  {len(ranking)} legal mappings ranked by the analytic cost:")
        for label, pick in shown:
            candidate = schedule.choice.candidates.take(np.array([pick]))
            cycles, array, dram, energy = schedule.choice.keys[pick]
            lines.append(f"  {label:<10}{_mapping(candidate, arch)}")
            lines.append(f"  {'':<10}cycles {int(cycles):,} (array {int(array):,}), DRAM {_fmt(float(dram), 'B')}, "
                         f"energy {energy / 1e6:,.1f} uJ")
    return "\n".join(lines)


def _mapping(table, arch) -> str:
    return flow(table.dataflow[0]).describe(table, arch)
