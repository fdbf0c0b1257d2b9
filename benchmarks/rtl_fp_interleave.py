"""The interleave mapping's adder-hazard term measured on the FP16/FP32 RTL: cycles of one GEMM on
SAT's generated FP PE array (amaranth.sim) with interleave on and off, at several accumulator
latencies, beside ``sim.timing.array_cycles``; every output is checked bit for bit against
``kernels.fp_reference``.

    python benchmarks/rtl_fp_interleave.py [--latencies 1 4 12] [--size 4] [--gemm 8 64 8]

Prints per dataflow and L the RTL's and the model's cycles with interleave on and off and the
ratio off / on (the ablation's gain at that latency, on this GEMM).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sparseloom.kernels import fp_reference as fr
from sparseloom.rtl.config import RtlConfig
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.rtl.os_gemm_check import run_os_gemm
from sparseloom.sim.timing import array_cycles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fp_operands import fp_operands  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latencies", type=int, nargs="+", default=[1, 4, 12])
    p.add_argument("--size", type=int, default=4, help="R = C of the array")
    p.add_argument("--gemm", type=int, nargs=3, default=[8, 64, 8], metavar=("M", "K", "N"))
    p.add_argument("--chunk", type=int, default=4, help="weight-stationary rows of A per chunk")
    args = p.parse_args(argv)
    rows, k, cols = args.gemm
    a, values, index = fp_operands(1, rows, k, cols, 2, 8)
    print(f"{args.size}x{args.size} fp16_fp32 array, 3 MAC stages, double buffer; GEMM {rows}x{k}x{cols} 2:8 "
          f"({values.shape[0]} executed rows); cycles RTL (model)")
    print(f"{'dataflow':<18}{'L':>3}{'interleave on':>20}{'interleave off':>20}{'off/on':>8}")
    for flow in ("weight_stationary", "output_stationary"):
        for L in args.latencies:
            cfg = RtlConfig(args.size, args.size, 8, 16, 32, L, True, 3, "fp16_fp32")
            cells = []
            for il in (True, False):
                if flow == "weight_stationary":
                    run = run_gemm(cfg, a, values, index, 2, 8, args.chunk, il)
                    want, got, chunk = fr.nm_gemm_fp16(a, values, index, 2, 8, cfg.rows), run.last_write, args.chunk
                else:
                    run = run_os_gemm(cfg, a, values, index, 2, 8, il)
                    want, got, chunk = fr.nm_gemm_fp16(a, values, index, 2, 8), run.done, None
                if not (run.out.astype(np.uint32) == want).all():
                    raise SystemExit(f"{flow} L={L} interleave={il}: results differ from the reference")
                model = int(array_cycles(cfg.rows, cfg.cols, flow, rows, cols, values.shape[0], L, il, True, chunk,
                                         mac_pipeline_stages=3).cycles)
                cells.append((got, model))
            (on, on_m), (off, off_m) = cells
            print(f"{flow:<18}{L:>3}{f'{on} ({on_m})':>20}{f'{off} ({off_m})':>20}{off / on:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
