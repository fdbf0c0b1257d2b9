"""Generated RTL in simulation: bit-exact against the reference kernels, cycle-exact against
the timing model; Verilog export, lint and a 4x4 synthesis."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.dataflow.gemms import build_gemms
from sparseloom.kernels import reference as ref
from sparseloom.rtl.check import run_engine, run_output_stationary, run_pruning, run_weight_stationary
from sparseloom.rtl.config import RtlConfig, rtl_config
from sparseloom.rtl.export import designs, to_verilog
from sparseloom.rtl.pruning import PruningLane
from sparseloom.sim.timing import array_cycles
from sparseloom.workloads.trace import load_workload

from .conftest import RESNET50_2OF8, SAT

CFG = RtlConfig(rows=4, cols=4, lanes=8, op_bits=8, acc_bits=32)
slow = pytest.mark.skipif(not os.environ.get("SPARSELOOM_SLOW_TESTS"), reason="set SPARSELOOM_SLOW_TESTS=1")


def tile(rng, rows: int, k: int, cols: int, n: int, m: int):
    w = rng.integers(-128, 128, (k, cols))
    a = rng.integers(-128, 128, (rows, k))
    values, index = ref.nm_compress(w, ref.topn_mask(w, n, m), n, m)
    return a, values, index


def model_cycles(ws: bool, rows: int, cols: int, k_eff: int) -> int:
    t = array_cycles(CFG.rows, CFG.cols, "weight_stationary" if ws else "output_stationary", rows, cols, k_eff,
                     CFG.acc_latency, False, True)
    return int(t.cycles)


# (rows of A, dense K, columns, N, M): full and partial tiles, dense and sparse
CASES = [(7, 16, 3, 2, 8), (5, 3, 4, 1, 1), (1, 4, 2, 2, 4), (9, 32, 4, 1, 8), (4, 8, 4, 4, 8), (3, 12, 1, 1, 4)]


@pytest.mark.parametrize("rows, k, cols, n, m", CASES)
def test_weight_stationary_tile(rows, k, cols, n, m):
    a, values, index = tile(np.random.default_rng(rows * k), rows, k, cols, n, m)
    out, cycles = run_weight_stationary(CFG, a, values, index, n, m)
    np.testing.assert_array_equal(out, ref.nm_gemm(a, values, index, n, m))
    assert cycles == model_cycles(True, rows, cols, values.shape[0])


@pytest.mark.parametrize("rows, k, cols, n, m", [c for c in CASES if c[0] <= CFG.rows])
def test_output_stationary_tile(rows, k, cols, n, m):
    a, values, index = tile(np.random.default_rng(k * cols), rows, k, cols, n, m)
    out, cycles = run_output_stationary(CFG, a, values, index, n, m)
    np.testing.assert_array_equal(out, ref.nm_gemm(a, values, index, n, m))
    assert cycles == model_cycles(False, rows, cols, values.shape[0])
    # draining one cycle earlier loses the last product: the model's drain start is the earliest
    early, _ = run_output_stationary(CFG, a, values, index, n, m, drain_at=values.shape[0] + rows + cols - 3)
    assert (early != out).any()


def test_stream_engine_adds_no_cycles():
    a, values, index = tile(np.random.default_rng(3), 6, 16, 4, 2, 8)
    out, cycles = run_engine(CFG, a, values, index, 2, 8)
    np.testing.assert_array_equal(out, ref.nm_gemm(a, values, index, 2, 8))
    assert cycles == model_cycles(True, 6, 4, values.shape[0])


def test_tiles_cut_from_a_committed_workload():
    # ResNet-50 BDWP 2:8 on SAT: the first weight tile of FF and BP GEMMs, shrunk to the 4x4 array
    w = load_workload(RESNET50_2OF8)
    g = build_gemms(w, load_arch(SAT))
    rng = np.random.default_rng(50)
    for i in np.flatnonzero((g.phase != "WU") & (g.pattern == "2:8"))[:4]:
        n, m = NMPattern.parse(g.pattern[i]).n, NMPattern.parse(g.pattern[i]).m
        k = min(int(g.k[i]), CFG.rows * m // n)               # the dense inputs behind one tile's rows
        a, values, index = tile(rng, 5, k, min(int(g.n[i]), CFG.cols), n, m)
        out, cycles = run_weight_stationary(CFG, a, values, index, n, m)
        np.testing.assert_array_equal(out, ref.nm_gemm(a, values, index, n, m))
        assert cycles == model_cycles(True, 5, values.shape[1], values.shape[0])


@pytest.mark.parametrize("n, m", [(2, 8), (1, 4), (2, 4), (3, 5), (1, 1)])
def test_pruning_lane(n, m):
    groups = np.random.default_rng(m).integers(-4, 5, (5, m))        # small values: many ties
    results, cycles = run_pruning(PruningLane(n, m, 8), groups)
    expected = ref.topn_mask(groups.T.astype(float), n, m).T
    for g, (mask, values, positions) in enumerate(results):
        assert mask == sum(1 << p for p in range(m) if expected[g, p])
        kept = sorted(zip(positions, values))
        assert [v for _, v in kept] == [int(groups[g, p]) for p in sorted(positions)]
    assert cycles == [m * (g + 1) for g in range(len(groups))]          # M cycles a group, back to back


def test_verilog_is_deterministic():
    component = designs(CFG, ["weight_stationary"], [])["ws_engine"]
    assert to_verilog(component, "ws") == to_verilog(designs(CFG, ["weight_stationary"], [])["ws_engine"], "ws")


def test_rtl_config_needs_the_rtl_section_of_an_integer_arch():
    from dataclasses import replace

    from sparseloom.core.errors import InputError

    with pytest.raises(InputError, match="rtl: missing section"):
        sat = load_arch(SAT)
        rtl_config(replace(sat, array=replace(sat.array, operand_dtype="int8", accumulator_dtype="int32")),
                   "arch/x.yaml")


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilator_lint(tmp_path):
    from sparseloom.rtl.flow import lint

    for name, component in designs(CFG, ["weight_stationary", "output_stationary"],
                                   [NMPattern(2, 8), NMPattern(1, 4)]).items():
        (tmp_path / f"{name}.v").write_text(to_verilog(component, name))
        lint(tmp_path, f"{name}.v", name)


def test_synthesis_of_a_4x4_array(tmp_path):
    from sparseloom.rtl.flow import synthesize

    (tmp_path / "ws.v").write_text(to_verilog(designs(CFG, ["weight_stationary"], [])["ws_engine"], "ws"))
    resources = synthesize(tmp_path, "ws.v", "ws", "ecp5").resources()
    assert resources["DSP"] == CFG.rows * CFG.cols                      # one multiplier per PE
    assert resources["LUT"] > 0 and resources["FF"] > CFG.rows * CFG.cols * (CFG.op_bits + CFG.acc_bits)


@slow
def test_ecp5_bitstream(tmp_path):
    from sparseloom.apps.rtlgen import main

    # SAT's 200 MHz is beyond an ECP5 (about 108 MHz): a missed clock target is a failure, with the bitstream kept
    assert main([str(SAT), "-o", str(tmp_path), "--target", "ecp5"]) == 1
    assert (tmp_path / "ws_gemm_board.bit").stat().st_size > 100_000     # the whole-GEMM engine, placed
    report = json.loads((tmp_path / "resources.json").read_text())
    assert report["board"]["engine"] == "ws_gemm" and report["board"]["DSP"] == 16 and 0 < report["fmax_mhz"] < 200
    assert report["timing_met"] is False and report["clock_target_mhz"] == 200
    assert "flex_gemm" in report["designs"]


def test_rtlgen_writes_verilog_and_vivado_files(tmp_path, capsys):
    from sparseloom.apps.rtlgen import main

    assert main([str(SAT), "-o", str(tmp_path), "--array", "2x2", "--no-synth"]) == 0
    out = capsys.readouterr().out
    assert "fp16_fp32 PE" in out and "not generated" not in out
    for name in ("ws_gemm.v", "os_gemm.v", "flex_gemm.v", "prune_2of8.v", "vcu1525.xdc", "vcu1525.tcl"):
        assert (tmp_path / name).stat().st_size > 0
    assert "period 5.000" in (tmp_path / "vcu1525.xdc").read_text()          # SAT's 200 MHz
    assert main([str(SAT), "-o", str(tmp_path), "--array", "two"]) == 2
    assert "expected ROWSxCOLS" in capsys.readouterr().err
