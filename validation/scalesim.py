"""Like-for-like check of sparseloom's weight-stationary timing against SCALE-Sim v3.

    python validation/scalesim.py [--layers N|NAME,NAME,...] [--array R] [--nm N:M] [--out FILE]

Both tools run the same layers of SCALE-Sim's own ResNet-50 topology (``validation/Resnet50.csv``,
a copy of SCALE-Sim's ``topologies/conv_nets/Resnet50.csv``), batch 1, inference (forward GEMMs
only), on an R x R weight-stationary array: SCALE-Sim 3.0.0 through its Python API
(``scalesim.scale_sim.scalesim``, run in a temporary directory, cycles from its
``COMPUTE_REPORT.csv``), sparseloom through ``sparseloom.sim.simulate.simulate(arch, workload,
"analytic")`` with ``validation/scalesim_ws.yaml``, the arch that reproduces SCALE-Sim's fixed
mapping (no weight double buffer, no interleave, the default mapping rule, memory that never
stalls). sparseloom reads the topology with its own importer (``sparseloom.workloads.scalesim``).

Per layer the table gives each tool's GEMM (M x N x K executed), both cycle counts and their
ratio, sparseloom's cycles for exactly the GEMM SCALE-Sim executed (timing model alone, shapes
aside), and the named reasons for the difference with the cycles each accounts for. Every named
reason comes from reading both codes (see ``docs/scalesim.md``); ``unexplained`` is what is left.

With ``--nm 2:4`` a second table runs the same layers with 2:4 weights: SCALE-Sim's
``SparsitySupport`` (one N:M ratio per layer, blocked ELLPACK, ``OptimizedMapping: false``)
against sparseloom's ``srste`` 2:4 inference. SCALE-Sim 3.0.0 with NumPy >= 2.4 fails at the
end of every layer (``int()`` of a one-element array; SCALE-Sim issue #160, fix in PR #162); the
runner below finishes that one statement with ``np.max`` and changes nothing else.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import math
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file is called scalesim.py: run as a script, its folder heads sys.path and would shadow
# SCALE-Sim's own ``scalesim`` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
TOPOLOGY = HERE / "Resnet50.csv"
ARCH = HERE / "scalesim_ws.yaml"
DEFAULT_LAYERS = ("Conv1", "CB2a_1", "CB2a_2", "CB2a_3", "CB3a_1", "FC6")
"""The 7x7 strided stem, a 1x1, a 3x3, a 1x1 to 4x the channels, a strided 1x1 and the FC layer:
SCALE-Sim takes about 27 s for them on one core (dense), ``--nm 2:4`` about 15 s more."""
SCALESIM_VERSION = "3.0.0"
EXTRA = "scalesim"
INSTALL = f"pip install 'sparseloom[{EXTRA}]'  (from a checkout: pip install -e '.[{EXTRA}]')"


def scalesim_installed() -> bool:
    return importlib.util.find_spec("scalesim") is not None


# ---------------------------------------------------------------------------------------------
# the topology rows both tools read

@dataclass(frozen=True)
class TopoRow:
    """One conv row of a SCALE-Sim topology: name, IFMAP H, W, filter R, S, channels, filters, stride."""

    name: str
    h: int
    w: int
    r: int
    s: int
    c: int
    k: int
    stride: int

    def line(self, nm: str | None = None) -> str:
        ratio = f" {nm}," if nm else ""
        return f"{self.name}, {self.h}, {self.w}, {self.r}, {self.s}, {self.c}, {self.k}, {self.stride},{ratio}\n"

    @property
    def scalesim_pq(self) -> tuple[int, int]:
        """SCALE-Sim's output size: ceil((H - R + stride) / stride) (topology_utils.topo_calc_hyperparams)."""
        return (math.ceil((self.h - self.r + self.stride) / self.stride),
                math.ceil((self.w - self.s + self.stride) / self.stride))


HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def read_topology(path: Path) -> list[TopoRow]:
    """The conv rows of a SCALE-Sim topology (an N:M column, if any, is ignored)."""
    lines = [[c.strip() for c in row if c.strip()] for row in csv.reader(io.StringIO(Path(path).read_text()))]
    lines = [cells for cells in lines if cells]
    if not lines or lines[0][0] != "Layer name":
        raise ValueError(f"{path}: expected SCALE-Sim's conv topology header ({HEADER.strip()})")
    return [TopoRow(cells[0], *(int(v) for v in cells[1:8])) for cells in lines[1:]]


def select(rows: list[TopoRow], layers: int | tuple[str, ...] | list[str]) -> list[TopoRow]:
    """The first ``layers`` rows, or the rows named, in the topology's order."""
    if isinstance(layers, int):
        if not 1 <= layers <= len(rows):
            raise ValueError(f"--layers: expected 1 to {len(rows)}, got {layers}")
        return rows[:layers]
    names = {r.name for r in rows}
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"--layers: no layer {', '.join(unknown)} in the topology; it has {', '.join(r.name for r in rows)}")
    return [r for r in rows if r.name in set(layers)]


def topology_text(rows: list[TopoRow], nm: str | None = None) -> str:
    return HEADER + "".join(r.line(nm) for r in rows)


# ---------------------------------------------------------------------------------------------
# SCALE-Sim

SCALESIM_CFG = """\
[general]
run_name = validation

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 65536
FilterSramSzkB: 65536
OfmapSramSzkB: 65536
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: ws
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: {sparse}
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 4
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
"""Weight-stationary, 64 MiB SRAMs, CALC bandwidth mode (SCALE-Sim sizes the DRAM interface so
reads never stall: read_buffer_estimate_bw.service_reads returns the request cycle plus the hit
latency), no custom layout; sparsity on only for the N:M case."""


@dataclass(frozen=True)
class ScaleSimLayer:
    name: str
    m: int           # ofmap pixels streamed (T)
    n: int           # filters (Sc)
    k: int           # filter rows executed: R*S*C, or its N:M-condensed length
    cycles: int      # COMPUTE_REPORT "Total Cycles" (compute plus stalls)
    stalls: int      # COMPUTE_REPORT "Stall Cycles"


def _patch_numpy_24() -> None:
    """SCALE-Sim 3.0.0 ends ``service_memory_requests`` with ``int(max(ofmap_serviced_cycles))``,
    a list of one-element arrays: a TypeError since NumPy 2.4 (SCALE-Sim issue #160). Finish that
    statement as upstream's fix (PR #162) does, from the trace it has already built."""
    import numpy as np
    from scalesim.memory import double_buffered_scratchpad_mem as mem

    cls = mem.double_buffered_scratchpad
    if getattr(cls, "_sparseloom_patched", False):
        return
    original = cls.service_memory_requests

    def service_memory_requests(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except TypeError as exc:
            if "0-dimensional" not in str(exc):
                raise
            self.total_cycles = int(np.max(self.ofmap_trace_matrix[:, 0]))  # the serviced cycles
            self.traces_valid = True

    cls.service_memory_requests = service_memory_requests
    cls._sparseloom_patched = True


def run_scalesim(rows: list[TopoRow], array: int, nm: str | None = None) -> list[ScaleSimLayer]:
    """Run SCALE-Sim on ``rows`` (with ``nm`` on every layer if given) in a temporary directory."""
    _patch_numpy_24()
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="scalesim-") as tmp:
        tmp = Path(tmp)
        (tmp / "scale.cfg").write_text(SCALESIM_CFG.format(rows=array, cols=array, sparse="true" if nm else "false"))
        (tmp / "topology.csv").write_text(topology_text(rows, nm))
        (tmp / "layout.csv").write_text("Layer name,\n")      # required, unused without a custom layout
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):
                sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "scale.cfg"),
                               topology=str(tmp / "topology.csv"), layout=str(tmp / "layout.csv"))
                sim.run_scale(top_path=str(tmp / "out"))
        except SystemExit:
            raise RuntimeError(f"SCALE-Sim exited: {log.getvalue().strip()}") from None
        report = _read_compute_report(tmp / "out" / "validation" / "COMPUTE_REPORT.csv")
        out = []
        for row, layer_sim, rep in zip(rows, sim.runner.single_layer_sim_object_list, report):
            cs = layer_sim.compute_system
            out.append(ScaleSimLayer(row.name, int(cs.T), int(cs.Sc), int(cs.filter_op_mat.shape[0]),
                                     int(rep["Total Cycles"]), int(rep["Stall Cycles"])))
        return out


def _read_compute_report(path: Path) -> list[dict]:
    lines = [[c.strip() for c in line.split(",")] for line in path.read_text().splitlines() if line.strip()]
    header = lines[0]
    return [dict(zip(header, line)) for line in lines[1:]]


def scalesim_closed_form(array: int, m: int, n: int, k: int) -> int:
    """SCALE-Sim's WS cycles read off systolic_compute_ws.py: every fold (one k-fold x n-fold) is
    arr_row cycles of weight load, T rows of ifmap, arr_row - 1 of skew and arr_col - 1 of drain
    (all at full array size, however partial the fold), and the report gives the 0-based index
    of the last OFMAP write: the sum minus one."""
    R = C = array
    folds = math.ceil(k / R) * math.ceil(n / C)
    return folds * (R + m + (R - 1) + (C - 1)) - 1


# ---------------------------------------------------------------------------------------------
# sparseloom

def load_validation_arch(array: int, nm: str | None = None, path: Path = ARCH):
    """``validation/scalesim_ws.yaml`` with an ``array`` x ``array`` PE array (and ``nm`` among
    the patterns it executes)."""
    from sparseloom.arch.schema import Arch, NMPattern
    from sparseloom.core.typed_yaml import build, read_yaml

    data = read_yaml(path)
    data["array"] = {**data["array"], "rows": array, "cols": array}
    if nm and nm not in data["sparsity"]["nm_patterns"]:
        m = NMPattern.parse(nm).m
        data["sparsity"] = {**data["sparsity"], "nm_patterns": ["dense", nm], "max_m": m,
                            "index_bits_per_nonzero": math.ceil(math.log2(m))}
    data["name"] = f"scalesim-ws-{array}x{array}"
    return build(Arch, data, str(path))


def _workload(layers, nm: str | None, name: str):
    from sparseloom.arch.schema import NMPattern
    from sparseloom.workloads.models import sparsify
    from sparseloom.workloads.trace import Provenance, Sparsity, Workload, WorkloadMeta

    method, pattern = ("srste", NMPattern.parse(nm)) if nm else ("dense", NMPattern(1, 1))
    layers = sparsify(layers, method, pattern)
    meta = WorkloadMeta(name=name, model="resnet50 (SCALE-Sim topology)", dataset="imagenet", input_shape=[3, 224, 224],
                        batch_size=1, mode="inference", sparsity=Sparsity(method, str(pattern)),
                        provenance=Provenance("none", "imported from SCALE-Sim's Resnet50.csv"))
    return Workload(meta, layers)


def run_sparseloom(rows: list[TopoRow], arch, nm: str | None = None):
    """sparseloom's forward GEMMs of ``rows``, imported by its SCALE-Sim importer (a DataFrame)."""
    from sparseloom.sim.simulate import simulate
    from sparseloom.workloads.scalesim import read_scalesim

    with tempfile.TemporaryDirectory(prefix="sparseloom-") as tmp:
        path = Path(tmp) / "topology.csv"
        path.write_text(topology_text(rows))
        layers = read_scalesim(path)
    result = simulate(arch, _workload(layers, nm, "scalesim-resnet50"), "analytic")
    ff = result.rows[result.rows.phase == "FF"].set_index("name")
    return ff, {layer.name: layer for layer in result.workload.layers}


def run_sparseloom_gemms(gemms: list[ScaleSimLayer] | list[tuple[str, int, int, int]], arch):
    """sparseloom's cycles for dense GEMMs given as (name, m, n, k) or SCALE-Sim's layers: for
    exactly the GEMMs SCALE-Sim executed, its timing model alone."""
    from sparseloom.sim.simulate import simulate
    from sparseloom.workloads.trace import Layer

    gemms = [(g.name, g.m, g.n, g.k) if isinstance(g, ScaleSimLayer) else g for g in gemms]
    layers = [Layer(name, "linear", C=k, K=n, H=m) for name, m, n, k in gemms]   # M rows of K to N outputs
    result = simulate(arch, _workload(layers, None, "scalesim-gemms"), "analytic")
    return result.rows[result.rows.phase == "FF"].set_index("name")


# ---------------------------------------------------------------------------------------------
# the comparison

@dataclass
class Comparison:
    case: str                      # "dense" or the N:M pattern
    layer: str
    ss_mnk: tuple[int, int, int]   # SCALE-Sim's GEMM (K: executed)
    sl_mnk: tuple[int, int, int]   # sparseloom's GEMM (K: executed)
    ss_cycles: int
    ss_stalls: int
    ss_closed_form: int            # our reading of SCALE-Sim's code
    sl_cycles: int
    sl_same_gemm: int              # sparseloom on SCALE-Sim's GEMM
    sl_memory_stalls: int          # buffer + DRAM stalls in sparseloom (0 by design)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # (tag, reason, SCALE-Sim minus sparseloom cycles)

    @property
    def ratio(self) -> float:
        return self.sl_cycles / self.ss_cycles

    @property
    def timing_ratio(self) -> float:
        return self.sl_same_gemm / self.ss_cycles

    @property
    def explained(self) -> int:
        return sum(c for _, _, c in self.reasons)

    @property
    def unexplained(self) -> int:
        """SCALE-Sim minus sparseloom cycles that no named reason accounts for."""
        return self.ss_cycles - self.sl_cycles - self.explained


def timing_reasons(array: int, m: int, n: int, k: int) -> list[tuple[str, str, int]]:
    """Where SCALE-Sim's and sparseloom's cycles differ for one and the same WS GEMM, from the codes.

    sparseloom (sim/timing.py, interleave off, no double buffer, one chunk): per tile
    ``min(R, k_tile) + m + (R - 1) + (n_tile - 1)``, plus the accumulator latency once.
    SCALE-Sim: per fold ``R + T + (R - 1) + (C - 1)``, minus one (see scalesim_closed_form).
    """
    R = C = array
    tk, tn = math.ceil(k / R), math.ceil(n / C)
    k_last, n_last = k - (tk - 1) * R, n - (tn - 1) * C
    out = []
    if k_last < R:
        out.append(("k-fold pad", f"the last k-fold holds {k_last} of {R} rows: SCALE-Sim preloads all {R} "
                                  f"(arr_row cycles every fold), sparseloom {k_last}; once per n-fold", tn * (R - k_last)))
    if n_last < C:
        out.append(("n-fold pad", f"the last n-fold holds {n_last} of {C} columns: SCALE-Sim drains it through all {C} "
                                  f"(arr_col - 1 cycles every fold), sparseloom through {n_last} (n_tile - 1); once per "
                                  f"k-fold", tk * (C - n_last)))
    out.append(("end", "SCALE-Sim reports the 0-based index of the last OFMAP write (-1); sparseloom adds the "
                       "output-buffer add, L = 1 (+1)", -2))
    return out


def compare(layers=DEFAULT_LAYERS, array: int = 32, nm: str | None = None, topology: Path = TOPOLOGY) -> list[Comparison]:
    """Run both tools on ``layers`` of ``topology`` (dense, or ``nm`` on every layer) and compare."""
    rows = select(read_topology(topology), layers)
    arch = load_validation_arch(array, nm)
    ss = run_scalesim(rows, array, nm)
    sl, sl_layers = run_sparseloom(rows, arch, nm)
    same = run_sparseloom_gemms(ss, arch)
    # the shapes: sparseloom prices each way its GEMM differs from SCALE-Sim's, one dimension at a
    # time (M, then N, then K) from its own GEMM to SCALE-Sim's
    steps = []
    for row, s in zip(rows, ss):
        g = sl.loc[row.name]
        steps += [(f"{row.name}|m", s.m, int(g.n), int(g.k_eff)), (f"{row.name}|mn", s.m, s.n, int(g.k_eff))]
    stepped = run_sparseloom_gemms(steps, arch)
    out = []
    for row, s in zip(rows, ss):
        g, layer = sl.loc[row.name], sl_layers[row.name]
        c = Comparison(nm or "dense", row.name, (s.m, s.n, s.k), (int(g.m), int(g.n), int(g.k_eff)), s.cycles, s.stalls,
                       scalesim_closed_form(array, s.m, s.n, s.k), int(g.cycles), int(same.loc[row.name].cycles),
                       int(g.stall_buffer + g.stall_dram))
        at_m, at_mn = (int(stepped.loc[f"{row.name}|{x}"].cycles) for x in ("m", "mn"))
        if s.m != c.sl_mnk[0]:
            p, q = row.scalesim_pq
            c.reasons.append(("ceil P,Q", f"SCALE-Sim's ceil output size: {p}x{q} pixels, sparseloom's floor "
                                          f"{layer.P}x{layer.Q}", at_m - c.sl_cycles))
        if s.n != c.sl_mnk[1]:
            c.reasons.append(("N", f"N: {s.n} in SCALE-Sim, {c.sl_mnk[1]} in sparseloom", at_mn - at_m))
        if s.k != c.sl_mnk[2]:
            if nm and layer.fwd_nm.dense:
                c.reasons.append(("N:M stem", f"SCALE-Sim prunes {nm} along the flattened R*S*C window (K "
                                              f"{row.r * row.s * row.c} -> {s.k}); sparseloom keeps a {layer.C}-channel "
                                              f"layer dense (its N:M groups run along C)", c.sl_same_gemm - at_mn))
            else:
                c.reasons.append(("K", f"K executed: {s.k} in SCALE-Sim, {c.sl_mnk[2]} in sparseloom", c.sl_same_gemm - at_mn))
        c.reasons += timing_reasons(array, s.m, s.n, s.k)
        out.append(c)
    return out


# ---------------------------------------------------------------------------------------------
# the report

def _mnk(t) -> str:
    return " x ".join(f"{v:,}" for v in t)


def _signed(v: int) -> str:
    return f"{v:+,}".replace("-", "\u2212")


OWNER = {"ceil P,Q": "SCALE-Sim's", "k-fold pad": "SCALE-Sim's", "n-fold pad": "SCALE-Sim's",
         "N:M stem": "ours: sparseloom's N:M rule keeps a layer dense whose channels M does not divide",
         "end": "SCALE-Sim's -1, ours +1"}
"""Whose the difference is: SCALE-Sim's where its code pads or rounds, ours where sparseloom does."""


def table(rows: list[Comparison]) -> str:
    out = ["| layer | SCALE-Sim M x N x K | sparseloom M x N x K | SCALE-Sim cycles | sparseloom cycles | ratio | "
           "sparseloom on SCALE-Sim's GEMM | ratio | difference (SCALE-Sim \u2212 sparseloom), by reason | unexplained |",
           "|---|---|---|--:|--:|--:|--:|--:|---|--:|"]
    for c in rows:
        why = ", ".join(f"{tag} {_signed(v)}" for tag, _, v in c.reasons if v)
        out.append(f"| {c.layer} | {_mnk(c.ss_mnk)} | {_mnk(c.sl_mnk)} | {c.ss_cycles:,} | {c.sl_cycles:,} | "
                   f"{c.ratio:.4f} | {c.sl_same_gemm:,} | {c.timing_ratio:.4f} | {why} | {c.unexplained} |")
    ss, sl, same = (sum(getattr(c, a) for c in rows) for a in ("ss_cycles", "sl_cycles", "sl_same_gemm"))
    out.append(f"| **total** | | | **{ss:,}** | **{sl:,}** | **{sl / ss:.4f}** | **{same:,}** | **{same / ss:.4f}** | | "
               f"**{sum(c.unexplained for c in rows)}** |")
    return "\n".join(out)


def render(cases: dict[str, list[Comparison]], array: int, command: str, nm: str | None,
           rows: list[TopoRow] | None = None, topology: Path = TOPOLOGY) -> str:
    from importlib.metadata import version

    import numpy as np

    every = [c for compared in cases.values() for c in compared]
    names = ", ".join(f"{r.name} ({r.h}x{r.w}x{r.c}, {r.r}x{r.s}, {r.k} filters, stride {r.stride})" for r in rows) if rows \
        else ", ".join(c.layer for c in next(iter(cases.values())))
    closed = all(c.ss_cycles == c.ss_closed_form for c in every)
    stalls = sum(c.ss_stalls for c in every), sum(c.sl_memory_stalls for c in every)
    lines = [
        "# sparseloom against SCALE-Sim: weight-stationary cycles, like for like",
        "",
        f"Regenerate: `{command}` (needs `pip install -e '.[{EXTRA}]'`; see [docs/scalesim.md](../../docs/scalesim.md)).",
        "",
        f"- **Layers**: {names} of "
        + ("SCALE-Sim's own ResNet-50 topology (`validation/Resnet50.csv`, a copy of SCALE-Sim's "
           "`topologies/conv_nets/Resnet50.csv`: no padding column)" if Path(topology).resolve() == TOPOLOGY
           else f"`{topology}`")
        + ", batch 1, inference: forward GEMMs only.",
        f"- **Array**: {array}x{array} PEs, weight-stationary (`ws`) in both tools; cycles of the array, memory never stalls.",
        f"- **SCALE-Sim** {version('scalesim')} (NumPy {np.__version__}; its NumPy >= 2.4 crash at the end of every layer, "
        "issue #160, is finished as upstream PR #162 does), Python API `scalesim.scale_sim.scalesim`, cycles = "
        "`COMPUTE_REPORT.csv` *Total Cycles*: `Dataflow: ws`, `InterfaceBandwidth: CALC`, 64 MiB SRAMs, no custom layout"
        + (f"; N:M case: `SparsitySupport: true`, `SparseRep: ellpack_block`, `OptimizedMapping: false`, ratio {nm} on "
           "every layer." if nm else "."),
        f"- **sparseloom** {version('sparseloom')}, `simulate(arch, workload, \"analytic\")` with `validation/scalesim_ws.yaml`: "
        "`weight_double_buffer: false`, `dataflow_options.interleave: false`, `offline_schedule: false` (the fixed default "
        "mapping: all m rows of A in one chunk), `accumulator_latency_cycles: 1`, buffers and DRAM too large and wide to "
        "stall; the layers read by `sparseloom.workloads.scalesim.read_scalesim`"
        + (f"; N:M case: `srste` {nm} (forward weights)." if nm else "."),
        "",
        "Columns: each tool's GEMM (C[M x N] += A[M x K] B[K x N], K as executed: N:M-compressed in the sparse case), both "
        "cycle counts and ratio = sparseloom / SCALE-Sim; then sparseloom's cycles for exactly the GEMM SCALE-Sim executed "
        "(the timing models alone, shapes aside) and its ratio; the difference split into named reasons (below); "
        "*unexplained* is what no named reason accounts for.",
        "",
    ]
    for case, compared in cases.items():
        title = "Dense" if case == "dense" else (
            f"{case} weights (SCALE-Sim: the first {case.split(':')[0]} of every {case.split(':')[1]} filter rows kept, "
            f"the same in every filter; sparseloom: `srste` {case}, groups along C, each filter its own pattern)")
        lines += [f"## {title}", "", table(compared), ""]
    lines += ["## The named differences", ""]
    seen: dict[str, dict[str, list[str]]] = {}
    for c in every:
        for tag, text, v in c.reasons:
            seen.setdefault(tag, {}).setdefault(text, []).append(c.layer if c.case == "dense" else f"{c.layer} ({c.case})")
    order = ["ceil P,Q", "N", "K", "N:M stem", "k-fold pad", "n-fold pad", "end"]
    for tag, texts in sorted(seen.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)):
        lines.append(f"- **{tag}** ({OWNER.get(tag, 'shapes')}): "
                     + "; ".join(f"{text} [{', '.join(where)}]" for text, where in texts.items()) + ".")
    lines += [
        "",
        "## Checks",
        "",
        f"- SCALE-Sim's cycles equal the closed form read off its code (per fold: arr_row weight load + T + "
        f"(arr_row - 1) + (arr_col - 1), summed over folds, minus 1) on every layer: **{'yes' if closed else 'no'}**.",
        f"- Stall cycles: SCALE-Sim {stalls[0]}, sparseloom (buffer + DRAM) {stalls[1]}.",
        f"- Cycles no named reason explains: **{sum(c.unexplained for c in every)}** over {len(every)} rows.",
        "",
    ]
    return "\n".join(lines)


def parse_layers(text: str):
    text = text.strip()
    return int(text) if text.isdigit() else tuple(n.strip() for n in text.split(",") if n.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python validation/scalesim.py", description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=parse_layers, default=DEFAULT_LAYERS,
                        help=f"the first N layers of the topology, or names separated by commas (default: {','.join(DEFAULT_LAYERS)})")
    parser.add_argument("--array", type=int, default=32, help="rows = columns of the PE array (default 32)")
    parser.add_argument("--nm", default="none", help="also run every layer with N:M weights, e.g. 2:4 (default: none, dense only)")
    parser.add_argument("--topology", type=Path, default=TOPOLOGY, help="a SCALE-Sim conv topology (default: its ResNet-50)")
    parser.add_argument("--out", type=Path, help="also write the markdown table here (atomically)")
    args = parser.parse_args(argv)
    if not scalesim_installed():
        print(f"SCALE-Sim is not installed; install the '{EXTRA}' extra: {INSTALL}", file=sys.stderr)
        return 2
    from importlib.metadata import version

    if version("scalesim") != SCALESIM_VERSION:
        print(f"note: SCALE-Sim {version('scalesim')} is installed; this check reads SCALE-Sim {SCALESIM_VERSION}'s code "
              "(the closed form and the named differences may not hold)", file=sys.stderr)
    nm = None if args.nm.lower() in ("none", "dense", "") else args.nm
    try:
        if args.array < 1:
            raise ValueError(f"--array: expected a positive number of rows, got {args.array}")
        if nm:
            from sparseloom.arch.schema import NMPattern

            if NMPattern.parse(nm).dense:
                nm = None
        cases = {"dense": compare(args.layers, args.array, None, args.topology)}
        if nm:
            cases[nm] = compare(args.layers, args.array, nm, args.topology)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    command = " ".join(["python validation/scalesim.py"] + [shlex.quote(a) for a in argv])
    text = render(cases, args.array, command, nm, select(read_topology(args.topology), args.layers), args.topology)
    sys.stdout.write(text)
    if args.out:
        from sparseloom.core.atomic import write_text

        write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
