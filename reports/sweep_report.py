"""The sweep report: Pareto fronts, sensitivity plots and the best point's per-layer breakdown,
as markdown and HTML with the plots beside them.

A renderer: it reads a sweep's results and the best point's simulated ``Result`` and writes text
and plots; it runs nothing. ``sparseloom.apps.sweep_report`` re-simulates the best point and
calls it (``python -m sparseloom.apps.sweep_report SPEC.yaml RESULTS.csv -o DIR``).
"""
from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..arch.schema import NMPattern
from ..core.atomic import write_text
from ..explore.fabric import CLOCK_ABOVE_FMAX, DOES_NOT_FIT
from ..core.provenance import VERSION, command_line
from ..explore.spec import SweepSpec
from ..sim.results import Result

PARETO_PAIRS = [("lut", "dense_equivalent_tmacs", "LUTs (xcup: the PE of the arch's dtypes, controllers)", "dense-equivalent TMAC/s", True),
                ("ff", "dense_equivalent_tmacs", "flip-flops (the PE of the arch's dtypes, MAC stages, controllers)", "dense-equivalent TMAC/s", True),
                ("average_power_w", "dense_equivalent_tmacs", "average power (W)", "dense-equivalent TMAC/s", True),
                ("time_ms", "total_energy_uj", "latency per iteration (ms)", "energy per iteration, static and background included (uJ)", False),
                ("time_ms", "energy_uj", "latency per iteration (ms)", "energy of the counted actions per iteration (uJ)", False)]


def pareto(x: np.ndarray, y: np.ndarray, maximise_y: bool) -> np.ndarray:
    """Indices of the points no other point beats in both (smaller x, and larger or smaller y)."""
    order = np.lexsort((-y if maximise_y else y, x))
    front, best = [], None
    for i in order:
        if best is None or (y[i] > best if maximise_y else y[i] < best):
            front.append(i)
            best = y[i]
    return np.array(front, np.int64)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    _plt().close(fig)
    tmp.replace(path)


def density(pattern) -> float:
    """N/M of an N:M pattern (dense: 1), the order N:M values are shown in: densest first."""
    return NMPattern.parse(str(pattern)).density


def _order(column: pd.Series) -> pd.Series:
    return -column.map(density) if column.name == "workload.nm" else column


def results_table(spec: SweepSpec, results: Path) -> pd.DataFrame:
    """The results CSV sorted by workload and parameters (N:M by density, densest first): rows
    arrive in completion order, and the sort makes ties (Pareto, best point) resolve the same
    every run and every plot and table list N:M as 2:4, 2:8, 1:8, 1:16, 1:32, not as text."""
    table = pd.read_csv(results)
    text = pd.read_csv(results, dtype=str, keep_default_na=False)
    ok = table.status == "ok"
    for column in table.columns:      # integers written for every point that ran: Int64, not float for the failed ones' blanks
        if table[column].dtype.kind == "f" and ok.any() and text.loc[ok, column].str.fullmatch(r"-?\d+").all():
            table[column] = table[column].astype("Int64")
    return table.sort_values(["workload", *spec.parameters], kind="stable", key=_order).reset_index(drop=True)


def _groups(ok: pd.DataFrame, params: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """Points that may share a Pareto front: one group per workload and training/inference mode
    (an inference point's latency is no alternative to a training iteration's)."""
    keys = [k for k in ("workload", "workload.mode") if k in ok and ok[k].nunique() > 1]
    if not keys:
        return [("", ok)]
    return [(", ".join(map(str, key if isinstance(key, tuple) else (key,))), part.reset_index(drop=True))
            for key, part in ok.groupby(keys, sort=False)]


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    ok = table[table.status == "ok"].reset_index(drop=True)
    return ok.astype({c: np.int64 for c in ok.columns if str(ok[c].dtype) == "Int64"})


def _infeasible(table: pd.DataFrame) -> str:
    """How many failed points are clocked above their PE's fmax or larger than their FPGA (not
    buildable, not broken)."""
    errors = table.error.astype(str)
    counts = [(int(errors.str.contains(CLOCK_ABOVE_FMAX).sum()), "clocked above their PE's fmax"),
              (int(errors.str.contains(DOES_NOT_FIT).sum()), "larger than their FPGA")]
    said = ", ".join(f"{count} {what}" for count, what in counts if count)
    return f" ({said.replace(' ', ' of them ', 1)})" if said else ""


def _metric(spec: SweepSpec, ok: pd.DataFrame) -> str:
    return "time_ms" if "time_ms" in ok else spec.metrics[0]


def best_point(spec: SweepSpec, results: Path) -> pd.Series | None:
    """The row of the point the report calls best (smallest ``time_ms``, else the first metric),
    or None when no point succeeded or nothing varies."""
    ok = _ok(results_table(spec, results))
    if not (len(ok) and len(spec.parameters)):
        return None
    return ok.loc[ok[_metric(spec, ok)].idxmin()]


def write_report(spec: SweepSpec, results: Path, out: Path, best_result: Result | None = None) -> Path:
    """Write ``<spec name>.md``, ``.html`` and the plots into ``out``; ``best_result`` is the
    simulated ``best_point`` (its per-layer breakdown is drawn when given)."""
    out.mkdir(parents=True, exist_ok=True)
    params = list(spec.parameters)
    table = results_table(spec, results)
    ok = _ok(table)
    sections = [f"# Sweep `{spec.name}`", "", spec.description, "",
                f"{len(table)} points in `{results.name}` ({spec.fidelity} fidelity): {len(ok)} ok, "
                f"{len(table) - len(ok)} failed{_infeasible(table)}. Parameters: " + ", ".join(f"`{p}` {spec.parameters[p]}" for p in params)
                + (". Fixed: " + ", ".join(f"`{k}` = {v}" for k, v in spec.fixed.items()) if spec.fixed else "") + ".",
                "", _provenance(table)]
    figures = []
    plt = _plt()
    for x, y, xl, yl, maximise in PARETO_PAIRS:
        if x in ok and y in ok and len(ok):
            fig, ax = plt.subplots(figsize=(7, 4.5))
            sections += ["", f"## Pareto front: {yl} vs {xl}", ""]
            for label, part in _groups(ok, params):
                front = pareto(part[x].to_numpy(float), part[y].to_numpy(float), maximise)
                points = ax.scatter(part[x], part[y], s=10, alpha=0.35, label=f"design points {label}".strip())
                ax.plot(part[x].iloc[front], part[y].iloc[front], ".-", color=points.get_facecolor()[0][:3],
                        label=f"Pareto front {label}".strip())
                best = part.iloc[front][params + [x, y]]
                sections += ([f"### {label}", ""] if label else []) + [_markdown_table(best), ""]
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
            fig.tight_layout()
            name = f"pareto_{x}_{y}.png"
            _save(fig, out / name)
            figures.append((f"Pareto front: {yl} vs {xl}", name))
            sections += [f"![{yl} vs {xl}]({name})"]
    metric = _metric(spec, ok)
    if len(ok) and len(params):
        columns = min(3, len(params))
        rows = math.ceil(len(params) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 3.4 * rows), squeeze=False)
        for ax, p in zip(axes.flat, params):
            grouped = ok.groupby(p, sort=False)[metric].median()
            ax.plot([str(v) for v in grouped.index], grouped.to_numpy(), "o-")
            ax.set_xlabel(p)
            ax.set_ylabel(f"median {metric}")
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(params):]:
            ax.set_visible(False)
        fig.tight_layout()
        _save(fig, out / "sensitivity.png")
        sections += ["", "## Sensitivity", "", f"Median `{metric}` over all other parameters, per value of each.",
                     "", "![sensitivity](sensitivity.png)"]
        sections += ["", f"## Best point by `{metric}`", "", _markdown_table(ok.loc[[ok[metric].idxmin()], params + spec.metrics])]
        if best_result is not None:
            _layer_breakdown(best_result, out / "best_layers.png")
            sections += ["", "Cycles per layer (all phases) of the best point, by cause:", "", "![per-layer breakdown](best_layers.png)"]
    if "workload.nm" in params and {"cycles", "stall_buffer", "stall_dram"} <= set(ok.columns) and len(ok):
        sections += ["", "## Where the bottleneck goes as sparsity rises", "", *_bottleneck(ok, params, out)]
    failed = table[table.status != "ok"]
    if len(failed):
        sections += ["", "## Failed points", "", _markdown_table(failed[params + ["error"]].head(20))]
    text = "\n".join(sections) + "\n"
    write_text(out / f"{spec.name}.md", text)
    write_text(out / f"{spec.name}.html", _html(text))
    return out / f"{spec.name}.md"


def _provenance(table: pd.DataFrame) -> str:
    """How the results were made, from their own provenance columns, and this report's command."""
    made = [f"{name} {', '.join(sorted(map(str, table[column].dropna().unique())))}"
            for name, column in (("sparseloom", "version"), ("fidelity", "fidelity")) if column in table]
    digests = [f"{table[c].nunique()} {what}" for c, what in (("arch_sha256", "resolved archs"),
                                                              ("trace_sha256", "trace folders")) if c in table]
    return (f"Provenance: results made by {'; '.join(made) or 'an older sparseloom (no provenance columns)'}"
            + (f" ({', '.join(digests)}, each row with its sha256)" if digests else "")
            + f"; report by sparseloom {VERSION}, command `{command_line()}`.")


def _bottleneck(ok: pd.DataFrame, params: list[str], out: Path) -> list[str]:
    """Cycle shares of the PE array, the buffers and DRAM per N:M, for each value of the next parameter."""
    others = [p for p in params if p != "workload.nm"]
    keys = others[:-1]                                   # medians over the last parameter
    shares = ok.assign(buffer=ok.stall_buffer / ok.cycles, dram=ok.stall_dram / ok.cycles)
    shares = shares.assign(array=1 - shares.buffer - shares.dram)
    order = list(dict.fromkeys(ok["workload.nm"]))
    lines = [f"Share of the iteration's cycles the PE array sets (array), and the stalls for input-buffer "
             f"bandwidth (buffer) and DRAM (dram): medians over `{others[-1]}`." if others else "", ""]
    groups = shares.groupby(keys + ["workload.nm"], sort=False)[["time_ms", "array", "buffer", "dram"]].median()
    table = groups.reset_index()
    lines.append(_markdown_table(table.sort_values(keys, kind="stable") if keys else table))   # N:M order kept
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for combo, part in (groups.groupby(level=list(range(len(keys))), sort=False) if keys else [((), groups)]):
        label = ", ".join(f"{v}" for v in (combo if isinstance(combo, tuple) else (combo,)))
        part = part.droplevel(list(range(len(keys)))).reindex(order) if keys else part.reindex(order)
        ax.plot(order, part.buffer + part.dram, "o-", label=f"memory stall share: {label}")
    ax.set_xlabel("N:M")
    ax.set_ylabel("buffer + DRAM stalls / cycles")
    ax.set_title(f"memory stall share by N:M, per {', '.join(keys)}" if keys else "memory stall share by N:M")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "bottleneck.png")
    return lines + ["", "![bottleneck by sparsity](bottleneck.png)"]


def _layer_breakdown(result: Result, path: Path) -> None:
    rows = result.gemms
    causes = ["busy", "stall_fill_drain", "stall_acc_hazard", "stall_buffer", "stall_dram", "stall_pruning"]
    per_layer = rows.groupby("layer", sort=True)[causes].sum()
    names = [result.workload.layers[i].name for i in per_layer.index]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.18), 4))
    bottom = np.zeros(len(per_layer))
    for cause in causes:
        ax.bar(range(len(names)), per_layer[cause], bottom=bottom, label=cause.replace("stall_", ""), width=0.8)
        bottom += per_layer[cause].to_numpy()
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_ylabel("cycles")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    _save(fig, path)


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Markdown's inline code (`x`) as <code>, the rest escaped."""
    parts = re.split(r"`([^`]*)`", text)
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _html(markdown: str) -> str:
    """A plain HTML page of the report: headings, tables, images and paragraphs."""
    body, table = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                cells = [_inline(c.strip()) for c in line.strip("|").split("|")]
                tag = "th" if not table else "td"
                table.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if table:
            body.append("<div class='wide'><table>" + "".join(table) + "</table></div>")
            table = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line.lstrip('# '))}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](")
            body.append(f'<img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}">')
        elif line:
            body.append(f"<p>{_inline(line)}</p>")
    style = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}" \
            ".wide{overflow-x:auto;margin:1em 0}table{border-collapse:collapse}" \
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;white-space:nowrap}th{background:#f3f3f3}" \
            "code{background:#f3f3f3;padding:0 3px;border-radius:3px}img{max-width:100%;height:auto}"
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
