"""Render a simulation result as a text table, CSV or JSON."""
from __future__ import annotations

import csv
import io
import json
import math
import textwrap

import numpy as np

from ..dataflow.flows import FLOWS
from ..sim.columns import TOTALS, as_integers, is_integer
from ..sim.records import Table, iteration_order
from ..sim.results import Result
from .provenance import provenance, provenance_line

WIDTH = 100         # the text views fit this many columns
TOP_ROWS = 10       # rows of the default table view (the slowest); --layers shows all

SHORT_DATAFLOW = {name: f.short for name, f in FLOWS.items()}


def describe(result: Result) -> list[str]:
    """What was modelled: the arch, the workload and the sparsity and dataflow assumptions."""
    a, w = result.arch, result.workload
    meta = w.meta
    dataflow, phases = result.gemm_table["dataflow"], result.gemm_table["phase"]
    flows = ", ".join(f"{phase} {'/'.join(sorted(SHORT_DATAFLOW[d] for d in set(dataflow[phases == phase].tolist())))}"
                      for phase in ("FF", "BP", "WU") if (phases == phase).any())
    return [
        f"arch      {a.name}: {a.array.rows}x{a.array.cols} PEs, {a.array.operand_dtype} operands / "
        f"{a.array.accumulator_dtype} accumulators, {a.clock_mhz:g} MHz, N:M patterns {', '.join(a.sparsity.nm_patterns)}, "
        f"dataflows {', '.join(SHORT_DATAFLOW[d] for d in a.array.dataflows)}",
        f"workload  {meta.name}: {meta.model} on {meta.dataset}, batch {meta.batch_size}, {meta.mode}, "
        f"method {meta.sparsity.method} {meta.sparsity.nm}, masks: {meta.provenance.masks}",
        f"model     {result.fidelity} fidelity; N:M weights compressed along the reduction axis with per-filter "
        f"patterns (every input of a group is still read); dataflow {flows}; "
        f"interleave {'on' if a.dataflow_options.interleave else 'off'}, pre-generation "
        f"{'on' if a.dataflow_options.pregenerate else 'off'}"
        + ("; activation skipping by the trace's densities (OS rows skip zeros, WS gates the MACs)"
           if a.sparsity.activation_skipping else ""),
    ]


def ablation_text(rows: list[dict], result_arch: str, workload: str, fidelity: str) -> str:
    """The ablation table: cycles, speedups and the stall causes that change."""
    lines = [f"ablation of SAT's dataflow optimisations: {workload} on {result_arch} ({fidelity} fidelity)", "",
             f"{'configuration':<22}{'cycles':>14}{'ms':>10}{'speedup':>9}{'step':>8}  stalls: fill, adder, DRAM, prune"]
    for r in rows:
        lines.append(f"{r['step']:<22}{r['cycles']:>14,}{r['time_ms']:>10.2f}{r['speedup']:>8.3f}x{r['step_speedup']:>7.3f}x  "
                     f"{_fmt(r['stall_fill_drain'])}, {_fmt(r['stall_acc_hazard'])}, {_fmt(r['stall_dram'])}, "
                     f"{_fmt(r['stall_pruning'])}")
    return "\n".join(lines)


def _fmt(value: float, unit: str = "") -> str:
    if value == 0:
        return "0"
    exponent = min(int(math.log10(abs(value)) // 3), 4) if abs(value) >= 1 else 0
    prefix = ["", "k", "M", "G", "T"][exponent]
    return f"{value / 1000 ** exponent:.3g}{prefix}{unit}"


def wrap(lines: list[str], width: int = WIDTH) -> list[str]:
    """Label-first lines (``cycles    ...``) folded to ``width`` with the text under its label."""
    return [part for line in lines
            for part in textwrap.wrap(line, width, subsequent_indent=" " * 10, break_on_hyphens=False) or [""]]


def text_table(result: Result, speedup: dict, layers: bool = False, power: dict | None = None) -> str:
    """What was modelled and how it was made, the totals, and the ten slowest rows (every layer
    and phase with ``layers``), as text that fits :data:`WIDTH` columns. ``power``: the power model's totals and notes
    (``{"totals": ..., "notes": [...]}``), if computed."""
    rows = _printed_rows(result)
    cycles = rows["cycles"]
    shown = np.arange(len(rows)) if layers else np.sort(np.argsort(-cycles, kind="stable")[:TOP_ROWS])
    title = (f"every layer and phase ({len(rows)} rows)" if layers else
             f"the {len(shown)} slowest of {len(rows)} rows, in iteration order (--layers for all)")
    lines = wrap(describe(result) + [f"made by   {provenance_line(provenance(result))}"])
    lines += ["", title, *_row_lines(rows.take(shown), result), ""]
    lines += wrap(totals_lines(result.totals, speedup, power["totals"] if power else None)
                  + [f"note      {n}" for n in result.notes + (power["notes"] if power else [])])
    return "\n".join(lines)


def _printed_rows(result: Result) -> Table:
    """The GEMM and side rows in one table, layer by layer, with the columns the text view shows
    (a side row has no dataflow or pattern, and no MACs or GEMM stalls)."""
    g, s = result.gemm_table, result.side_table
    stalls = [c for c in g.names if c.startswith("stall_")]
    names = ["layer", "name", "phase", "engine", "dataflow", "pattern", "macs", "cycles", *stalls,
             "dram_read_bytes", "dram_write_bytes"]
    missing = {"dataflow": np.full(len(s), None, object), "pattern": np.full(len(s), None, object)}  # else 0
    rows = Table({c: np.concatenate([g[c], s[c] if c in s else missing.get(c, np.zeros(len(s), np.int64))])
                  for c in names})
    return rows.take(iteration_order(rows["layer"], rows["phase"]))


def _row_lines(rows: Table, result: Result) -> list[str]:
    pes = result.arch.pes
    lines = []
    header = f"{'layer':<24}{'phase':<7}{'flow':<5}{'N:M':<6}{'MACs':>8}{'cycles':>9}{'util':>7}{'stall':>9}  {'cause':<11}{'DRAM':>8}"
    lines += [header, "-" * len(header)]
    causes = [c for c in rows.names if c.startswith("stall_")]
    columns = {c: rows[c].tolist() for c in rows.names}
    for i in range(len(rows)):
        r = {c: v[i] for c, v in columns.items()}
        stalls = {c[6:]: r[c] for c in causes}
        cause, worst = max(stalls.items(), key=lambda kv: kv[1])
        gemm = isinstance(r["dataflow"], str)
        util = f"{r['macs'] / (pes * r['cycles']):.0%}" if gemm and r["engine"] == "array" else "-"
        flow = SHORT_DATAFLOW.get(r["dataflow"], "-") if gemm else "-"
        pattern = r["pattern"] if isinstance(r["pattern"], str) else "-"
        macs = _fmt(r["macs"]) if gemm else "-"
        name = r["name"] if gemm or r["engine"] != "vector" else "  > " + "+".join(op.rsplit(".", 1)[-1] for op in r["name"].split("+"))
        lines.append(f"{name[:23]:<24}{r['phase']:<7}{flow:<5}{pattern:<6}{macs:>8}{_fmt(r['cycles']):>9}{util:>7}"
                     f"{_fmt(sum(stalls.values())):>9}  {cause if worst else '-':<11}"
                     f"{_fmt(r['dram_read_bytes'] + r['dram_write_bytes'], 'B'):>8}")
    return lines


def energy_lines(t: dict, p: dict | None) -> list[str]:
    """The energy breakdown; with the power model's totals ``p``, the whole iteration's."""
    mj = {k: v / 1e3 for k, v in t.items() if k.startswith("energy_")}
    counted = (f"MACs {mj['energy_compute_uj']:.2f}, operand movement {mj['energy_movement_uj']:.2f}, buffers "
               f"{mj['energy_buffer_uj']:.2f}, DRAM accesses {mj['energy_dram_uj']:.2f}, vector {mj['energy_vector_uj']:.2f}, "
               f"pruning and update {mj['energy_side_uj']:.2f}")
    if p is None:
        return [f"energy    {mj['energy_uj']:.2f} mJ of counted actions ({counted})"]
    return [
        f"energy    {p['total_energy_uj'] / 1e3:.2f} mJ per iteration, {p['average_power_w']:.2f} W average, "
        f"{p['gops_per_w']:.1f} GOPS/W useful ({p['dense_equivalent_gops_per_w']:.1f} dense-equivalent), "
        f"{p['pj_per_useful_mac']:.2f} pJ per useful MAC",
        f"          static {p['energy_static_uj'] / 1e3:.2f} mJ, clock {p['energy_clock_uj'] / 1e3:.2f}, DRAM background "
        f"{p['energy_dram_background_uj'] / 1e3:.2f}, memory controllers {p['energy_memory_controller_uj'] / 1e3:.2f}; "
        f"counted actions {mj['energy_uj']:.2f} ({counted})",
        f"power     static {p['power_static_w']:.2f} W, clock {p['power_clock_w']:.2f} W, counted actions "
        f"{p['power_dynamic_w']:.2f} W, DRAM background {p['power_dram_background_w']:.2f} W, memory controllers "
        f"{p['power_memory_controller_w']:.2f} W" + ("" if p["fmax_mhz"] is None else f"; PE fmax {p['fmax_mhz']:.1f} MHz"),
    ]


def totals_lines(t: dict, speedup: dict, power: dict | None = None) -> list[str]:
    stalls = ", ".join(f"{k[6:]} {_fmt(v)}" for k, v in t.items() if k.startswith("stall_"))
    return [
        f"cycles    {t['cycles']:,} ({t['time_ms']:.2f} ms per iteration); GEMMs {t['gemm_cycles']:,}, "
        f"non-GEMM {t['non_gemm_cycles']:,} ({t['non_gemm_cycles'] / max(t['cycles'], 1):.1%}; vector engine busy "
        f"{t['vector_busy_cycles']:,}, overlapped or not)",
        f"MACs      issued {t['macs']:,}; useful {t['useful_macs']:,}; dense-equivalent {t['dense_macs']:,}",
        f"util      {t['utilisation']:.1%} of PE-cycles issue MACs; effective (useful) {t['effective_utilisation']:.1%}; "
        f"dense-equivalent throughput {t['dense_equivalent_tmacs']:.3f} TMAC/s",
        f"stalls    {stalls}",
        f"DRAM      {_fmt(t['dram_bytes'], 'B')} moved; compulsory {_fmt(t['compulsory_bytes'], 'B')}; "
        f"{_fmt(t['onchip_saved_bytes'], 'B')} saved by activations kept on chip",
        *energy_lines(t, power),
        f"speedup   {speedup['speedup']:.3f}x over dense on this arch ({speedup['dense_cycles']:,} cycles); "
        f"ideal {speedup['iteration_ideal_speedup']:.3f}x for the whole iteration "
        f"({speedup['speedup'] / speedup['iteration_ideal_speedup']:.1%} of it), {speedup['ideal_speedup']:.3f}x for "
        f"the GEMMs alone",
        *(["WARNING   the speedup is above the iteration's ideal: a model error, please report it"]
          if speedup["above_ideal"] else []),
    ]


def _columns(table: Table, encode: bool) -> dict[str, list]:
    """The columns as lists of Python values: counts as integers where a float column holds only
    whole numbers (the simulator computes some bytes in floats); with ``encode`` the other floats
    as the JSON views have always written them (pandas' encoder: 10 decimals)."""
    columns = {}
    for name in table.names:
        values = table[name]
        if values.dtype.kind == "f" and is_integer(name) and bool((values % 1 == 0).all()):
            columns[name] = [int(v) for v in values.tolist()]
        elif values.dtype.kind == "f" and encode:
            columns[name] = [_encoded_float(v) for v in values.tolist()]
        else:
            columns[name] = values.tolist()
    return columns


def _records(table: Table) -> list[dict]:
    """The rows as JSON-ready dicts."""
    columns = _columns(table, encode=True)
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def _encoded_float(value: float) -> float | None:
    """``value`` as pandas' JSON encoder writes it (ujson's ``double_precision=10``), read back."""
    if value != value or value in (math.inf, -math.inf):
        return None
    negative, value = value < 0, abs(value)
    if value > 1e16 - 1 or (value != 0.0 and value < 1e-15):
        return float(f"{-value if negative else value:.10g}")
    whole = int(value)
    scaled = (value - whole) * 1e10
    frac = int(scaled)
    rest = scaled - frac
    if rest > 0.5 or (rest == 0.5 and (frac == 0 or frac & 1)):
        frac += 1
    if frac >= 10 ** 10:
        frac, whole = 0, whole + 1
    return float(f"{'-' if negative else ''}{whole}.{frac:010d}")


def _csv(header: list[str], rows) -> str:
    """Rows as CSV the way pandas writes a frame (no index; None as an empty field)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()


def _table_csv(table: Table) -> str:
    columns = _columns(table, encode=False)
    return _csv(list(columns), zip(*columns.values()))


def csv_text(result: Result) -> str:
    """The GEMM table as CSV (integers as integers)."""
    return _table_csv(result.gemm_table)


def side_csv_text(result: Result) -> str:
    """The side-engine table as CSV (integers as integers)."""
    return _table_csv(result.side_table)


def totals_csv_text(result: Result, speedup: dict, power: dict | None = None) -> str:
    """The totals, the power model's totals (``power``, as for :func:`text_table`), the speedup and
    its ideals, the provenance and the notes as name,value,unit rows."""
    units = {c.name: c.unit for c in TOTALS}
    rows = [(k, v, units[k]) for k, v in as_integers(result.totals).items()]
    if power:
        from ..explore.power import POWER

        power_units = {c.name: c.unit for c in POWER}
        rows += [(f"power.{k}", v, power_units.get(k, "")) for k, v in power["totals"].items()]
    rows += [(f"speedup_over_dense.{k}", v, "cycles" if k == "dense_cycles" else "x" if k != "above_ideal" else "bool")
             for k, v in speedup.items()]
    made = provenance(result)
    rows += [(f"provenance.{k}", v, "") for k, v in made.items() if k != "switches"]
    rows += [(f"provenance.switches.{k}", v, "bool") for k, v in made["switches"].items()]
    rows += [("note", n, "") for n in result.notes + (power["notes"] if power else [])]
    return _csv(["name", "value", "unit"], rows)


def json_text(result: Result, speedup: dict, power: dict | None = None, run=None) -> str:
    """The result as JSON; ``power`` adds the power model's totals and notes, ``run`` (a
    :class:`~sparseloom.sim.run.RunResult`) the run under its schedule."""
    payload = {
        "arch": result.arch.name,
        "workload": result.workload.meta.name,
        "batch_size": result.workload.meta.batch_size,
        "provenance": provenance(result),
        "totals": as_integers(result.totals),
        **({"power": power["totals"]} if power else {}),
        "speedup_over_dense": speedup,
        "notes": result.notes + (power["notes"] if power else []),
        "gemms": _records(result.gemm_table),
        "side": _records(result.side_table),
        **({"run": run.as_dict()} if run else {}),
    }
    return json.dumps(payload, indent=1, default=_plain)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


__all__ = ["text_table", "csv_text", "side_csv_text", "totals_csv_text", "json_text", "describe", "totals_lines"]
