"""Run the exported Verilog of the whole-GEMM engines in a real Verilog simulator.

:class:`VerilogSim` has the signature of :func:`.gemm_check.drive`, so ``run_gemm`` and
``run_os_gemm`` play exactly the same vectors (``driver=VerilogSim(...)``) through the Verilog
that :func:`.export.to_verilog` writes for the component (``rtl/export.py``'s own function, so what
is simulated is what ``rtlgen`` ships) as through amaranth.sim.

The testbench is plain synthesizable-style Verilog (module ``tb``, one ``clk`` input), generated
from the component's ports and built once per design: it reads the GEMMs from files at run time
(``params.hex``: per GEMM the ``start`` port values, each stream's first item and item count, the
cycle limit and its rows of ``gaps.hex``; ``<stream>.hex``: one packed payload per line;
``gaps.hex``: per cycle, the input streams that offer no new item and whether the result stream
is not ready), so one build runs any number of GEMMs, and one run a sequence of them
(:meth:`VerilogSim.jobs`, as :func:`.gemm_check.drive_jobs`). The cycle protocol is the amaranth
driver's: one cycle of reset, one cycle of ``start`` with the ports (streams not valid), then
from cycle 0 each input stream offers its next item while it has one (unless ``gaps`` holds it
back; an item offered stays valid until taken), a transfer is ``valid & ready`` at the clock
edge, and in cycle ``c`` the testbench logs every result transferred as ``r <gemm> <c> <hex>``
and, for ``done``, ``d <gemm> <c> <stalls> <held>`` (held: cycles the result was valid and not
ready); the next GEMM's ``start`` follows the cycle that showed ``done``. A result with an X or Z
bit fails the parse.

Simulators: Verilator (``verilator --cc --exe --build -Wno-WIDTH``, a 10-line C++ main that toggles
the clock) or Icarus Verilog (``iverilog -g2012`` with a wrapper that generates the clock).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data, wiring

from .export import to_verilog
from .gemm_check import new_result

SIMULATORS = ("verilator", "iverilog")
DEPTH = 1 << 14            # items per stream and gap cycles one build accepts

_MAIN_CPP = """\
#include "Vtb.h"
#include "verilated.h"
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Vtb* top = new Vtb;
    top->clk = 0;
    top->eval();
    while (!Verilated::gotFinish()) {
        top->clk = 1; top->eval();
        top->clk = 0; top->eval();
    }
    top->final();
    delete top;
    return 0;
}
"""

_CLOCK_V = """\
module tb_clock;
  reg clk = 0;
  always #5 clk = ~clk;
  tb t(.clk(clk));
endmodule
"""


def available(prefer: str | None = None) -> str | None:
    """The simulator to use: ``prefer`` if installed, else the first of SIMULATORS installed, else None."""
    names = (prefer,) if prefer else SIMULATORS
    for name in names:
        if shutil.which(name) and (name != "iverilog" or shutil.which("vvp")):
            return name
    return None


def _width(shape) -> int:
    return Shape.cast(shape).width


def _bits(shape, value) -> int:
    """``value`` (an int, or nested lists/dicts for a layout) as the port's raw bits."""
    if isinstance(shape, data.Layout):
        return shape.const(value).as_bits()
    width = _width(shape)
    return int(value) & ((1 << width) - 1)


def _payload_shape(dut, name: str):
    """The payload layout of stream port ``name``."""
    return getattr(dut, name).payload.shape()


def testbench(dut: wiring.Component, top: str, start: list[str], streams: list[str]) -> str:
    """Verilog of module ``tb`` around ``top``: ``start`` names the ports set with ``start``,
    ``streams`` the input streams (``amaranth.lib.stream`` ports, flattened by the Verilog
    backend to ``<name>__payload``/``__valid``/``__ready``). ``params.hex``: the number of jobs,
    then per job the ``start`` values, per stream the first item and the item count, the cycle
    limit, the first gap row and the gap row count. A gap row has a bit per stream (offer no new
    item this cycle) and one more: the result stream not ready."""
    members = dut.signature.members
    result_w = _width(_payload_shape(dut, "result"))
    names = list(streams)
    ns = len(names) + 1
    P = len(start) + 2 * len(names) + 3
    mems = [f"  reg [{_width(_payload_shape(dut, name)) - 1}:0] mem_{name} [0:{DEPTH - 1}];" for name in names]
    v = ["`timescale 1ns/1ps", "module tb(input clk);", *mems,
         "  reg [1:0] phase = 0;           // 0 reset, 1 start, 2 run",
         "  reg [31:0] job = 0;",
         "  reg [31:0] cycle = 0;",
         "  reg [31:0] stalls = 0;",
         "  reg [31:0] held = 0;",
         "  integer f;",
         f"  reg [63:0] par [0:{DEPTH - 1}];",
         f"  reg [{ns - 1}:0] gaps [0:{DEPTH - 1}];",
         f"  reg [31:0] sizes [0:{len(names) + 1}];   // words in params.hex, gaps.hex, each stream's file",
         "  initial begin",
         '    $readmemh("sizes.hex", sizes);',
         '    $readmemh("params.hex", par, 0, sizes[0] - 1);',
         '    if (sizes[1] != 0) $readmemh("gaps.hex", gaps, 0, sizes[1] - 1);']
    v += [f'    $readmemh("{name}.hex", mem_{name}, 0, sizes[{s + 2}] - 1);' for s, name in enumerate(names)]
    v += ['    f = $fopen("out.txt", "w");',
          "  end",
          "  wire [31:0] jobs = par[0];",
          f"  wire [31:0] base = 1 + job * {P};",
          "  wire rst = phase == 0;",
          "  wire start = phase == 1;",
          f"  wire [31:0] limit = par[base + {P - 3}];",
          f"  wire [31:0] gap_at = par[base + {P - 2}];",
          f"  wire [31:0] gap_n = par[base + {P - 1}];",
          f"  wire [{ns - 1}:0] gap = (phase == 2 && cycle < gap_n) ? gaps[gap_at + cycle] : 0;",
          f"  wire res_rdy = !gap[{ns - 1}];"]
    conns = [".clk(clk)", ".rst(rst)", ".start(start)"]
    for i, port in enumerate(start):
        w = _width(members[port].shape)
        v.append(f"  wire [{w - 1}:0] p_{port} = par[base + {i}][{w - 1}:0];")
        conns.append(f".{port}(p_{port})")
    for s, name in enumerate(names):
        first, count = f"par[base + {len(start) + 2 * s}][31:0]", f"par[base + {len(start) + 2 * s + 1}][31:0]"
        w = _width(_payload_shape(dut, name))
        v += [f"  reg [31:0] {name}_at = 0;",
              f"  reg {name}_hold = 0;              // offered and not taken: stays valid (stream rules)",
              f"  wire [31:0] {name}_end = {first} + {count};",
              f"  wire {name}_ok = phase == 2 && {name}_at < {name}_end && ({name}_hold || !gap[{s}]);",
              f"  wire {name}_rdy;",
              f"  wire [{w - 1}:0] d_{name} = {name}_at < {name}_end ? mem_{name}[{name}_at] : 0;"]
        conns += [f".{name}__valid({name}_ok)", f".{name}__ready({name}_rdy)", f".{name}__payload(d_{name})"]
    v += [f"  wire [{result_w - 1}:0] result;", "  wire res_valid, done, stall, busy;"]
    conns += [".result__payload(result)", ".result__valid(res_valid)", ".result__ready(res_rdy)",
              ".done(done)", ".stall(stall)", ".busy(busy)"]
    v.append(f"  {top} dut({', '.join(conns)});")
    v += ["  always @(posedge clk) begin",
          "    if (phase == 0) phase <= 1;",
          "    else if (phase == 1) begin",
          "      phase <= 2; cycle <= 0; stalls <= 0; held <= 0;"]
    v += [f"      {name}_at <= par[base + {len(start) + 2 * s}][31:0]; {name}_hold <= 0;"
          for s, name in enumerate(names)]
    v += ["    end else begin",
          "      // what the design shows in cycle `cycle` (counted from the first cycle after start)",
          '      if (res_valid && res_rdy) $fwrite(f, "r %0d %0d %h\\n", job, cycle, result);',
          "      if (done) begin",
          '        $fwrite(f, "d %0d %0d %0d %0d\\n", job, cycle, stalls + stall, held);',
          "        if (job + 1 < jobs) begin job <= job + 1; phase <= 1; end",
          "        else begin $fclose(f); $finish; end",
          "      end else if (cycle > limit) begin",
          '        $fwrite(f, "t %0d %0d\\n", job, cycle); $fclose(f); $finish;',
          "      end",
          "      stalls <= stalls + stall;",
          "      held <= held + (res_valid && !res_rdy);",
          "      cycle <= cycle + 1;"]
    for name in names:
        v += [f"      if ({name}_ok && {name}_rdy) {name}_at <= {name}_at + 1;",
              f"      {name}_hold <= {name}_ok && !{name}_rdy;"]
    v += ["    end", "  end", "endmodule", ""]
    return "\n".join(v)


class VerilogSim:
    """A drop-in for :func:`.gemm_check.drive` that runs the component's exported Verilog
    (``to_verilog(dut, top)``) in ``simulator`` ("verilator" or "iverilog"); builds go under
    ``workdir`` (one per distinct design and testbench, reused)."""

    def __init__(self, simulator: str, workdir: Path, top: str, timeout: float = 600):
        if available(simulator) is None:
            raise RuntimeError(f"{simulator} is not installed")
        self.simulator, self.workdir, self.top, self.timeout = simulator, Path(workdir), top, timeout
        self.runs = 0
        self.build_seconds = 0.0

    def _build(self, dut, start: list[str], streams: list[str]) -> tuple[Path, list[str]]:
        import time

        verilog = to_verilog(dut, self.top)
        tb = testbench(dut, self.top, start, streams)
        key = hashlib.sha256((self.simulator + verilog + tb).encode()).hexdigest()[:16]
        build = self.workdir / f"{self.top}-{self.simulator}-{key}"
        exe = build / ("obj_dir/Vtb" if self.simulator == "verilator" else "tb.vvp")
        if self.simulator == "verilator":
            cmd = ["./obj_dir/Vtb"]
        else:
            cmd = ["vvp", "-n", str(exe.resolve())]
        if exe.exists():
            return build, cmd
        build.mkdir(parents=True, exist_ok=True)
        (build / f"{self.top}.v").write_text(verilog)
        (build / "tb.v").write_text(tb)
        t0 = time.perf_counter()
        if self.simulator == "verilator":
            (build / "main.cpp").write_text(_MAIN_CPP)
            args = ["verilator", "--cc", "--exe", "--build", "-Wno-WIDTH", "-Wno-fatal", "--top-module", "tb",
                    "-j", "2", "-MAKEFLAGS", "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1",
                    "tb.v", f"{self.top}.v", "main.cpp"]
        else:
            (build / "clock.v").write_text(_CLOCK_V)
            args = ["iverilog", "-g2012", "-s", "tb_clock", "-o", "tb.vvp", "tb.v", "clock.v", f"{self.top}.v"]
        proc = subprocess.run(args, cwd=build, capture_output=True, text=True, timeout=self.timeout)
        self.build_seconds += time.perf_counter() - t0
        if proc.returncode != 0 or not exe.exists():
            raise RuntimeError(f"{self.simulator} build failed in {build}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return build, cmd

    def __call__(self, dut, start: dict, streams: dict, cols: int, take, limit: int, bubbles: float = 0.0,
                 seed: int = 0, gaps=None, ready=None) -> dict:
        """One GEMM, as :func:`.gemm_check.drive` runs it."""
        job = dict(start=start, streams=streams, take=take, limit=limit, bubbles=bubbles, seed=seed, gaps=gaps,
                   ready=ready)
        return self.jobs(dut, [job], cols)[0]

    def jobs(self, dut, jobs: list[dict], cols: int) -> list[dict]:
        """GEMMs back to back in one run, as :func:`.gemm_check.drive_jobs` runs them (every job
        with the same start ports and streams)."""
        if any(job.get("bubbles") for job in jobs):
            raise ValueError("random bubbles are the amaranth driver's; give both drivers the same `gaps`")
        members = dut.signature.members
        start_ports = list(jobs[0]["start"])
        names = list(jobs[0]["streams"])
        build, cmd = self._build(dut, start_ports, names)
        self.runs += 1
        run = build / f"run{self.runs}"
        run.mkdir(exist_ok=True)
        lines = {name: [] for name in names}
        par, gap_rows, first = [len(jobs)], [], dict.fromkeys(names, 0)
        for job in jobs:
            if list(job["start"]) != start_ports or list(job["streams"]) != names:
                raise ValueError("every job needs the same start ports and streams")
            par += [_bits(members[p].shape, v) for p, v in job["start"].items()]
            for name in names:
                items = job["streams"][name]
                if not items:
                    raise ValueError(f"stream {name}: no items")
                par += [first[name], len(items)]
                first[name] += len(items)
                shape = _payload_shape(dut, name)
                lines[name] += [f"{_bits(shape, item):x}\n" for item in items]
            gaps = [] if job.get("gaps") is None else [[bool(x) for x in row] for row in job["gaps"]]
            held = [] if job.get("ready") is None else [not r for r in job["ready"]]
            rows = max(len(gaps), len(held))
            gaps += [[False] * len(names)] * (rows - len(gaps))
            held += [False] * (rows - len(held))
            g = [sum(int(x) << s for s, x in enumerate(row + [h])) for row, h in zip(gaps, held)]
            par += [job["limit"], len(gap_rows), len(g)]
            gap_rows += g
        if max([len(par), len(gap_rows)] + list(first.values())) > DEPTH:
            raise ValueError(f"more than {DEPTH} items, gap rows or parameters in one run")
        for name, text in lines.items():
            (run / f"{name}.hex").write_text("".join(text))
        (run / "params.hex").write_text("".join(f"{p:x}\n" for p in par))
        (run / "gaps.hex").write_text("".join(f"{r:x}\n" for r in gap_rows))
        sizes = [len(par), len(gap_rows)] + [first[name] for name in names]
        (run / "sizes.hex").write_text("".join(f"{n:x}\n" for n in sizes))
        exe = [str((build / cmd[0]).resolve())] if self.simulator == "verilator" else cmd
        proc = subprocess.run(exe, cwd=run, capture_output=True, text=True, timeout=self.timeout)
        out = run / "out.txt"
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{self.simulator} run failed in {run}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        layout = _payload_shape(dut, "result")
        results = [new_result() for _ in jobs]
        for line in out.read_text().split("\n"):
            if not line:
                continue
            kind, j, cycle, *rest = line.split()
            j, cycle = int(j), int(cycle)
            res = results[j]
            if kind == "t":
                raise RuntimeError(f"GEMM {j} did not finish in {jobs[j]['limit']} cycles (Verilog, {self.simulator})")
            if kind == "d":
                res["done"], res["cycles"], res["stalls"], res["held"] = cycle, cycle, int(rest[0]), int(rest[1])
                continue
            try:
                raw = int(rest[0], 16)
            except ValueError:
                raise AssertionError(f"GEMM {j}, cycle {cycle}: result has unknown bits: {rest[0]}") from None
            result = data.Const(layout, raw).columns
            for c in range(cols):
                if result[c].keep:
                    res["writes"] += 1
                    res["last"] = cycle
                    res["log"].append((cycle, c, result[c].as_bits()))
                    jobs[j]["take"](result[c])
        if any(res["done"] < 0 for res in results):
            raise RuntimeError(f"{self.simulator} stopped without done:\n{proc.stdout[-2000:]}")
        return results
