"""The Verilog that ``rtl/export.py`` writes for ``ws_gemm`` and ``os_gemm`` (the engines exactly as
``rtlgen`` builds them, default limits) in a real Verilog simulator (Verilator and Icarus, each
skipped when not installed), driven with the same vectors as amaranth.sim: every result the
engine shows (cycle, column and all its bits) is the same in both, C equals
``kernels.reference.nm_gemm``, and ``done`` comes in the same cycle, the model's."""
from __future__ import annotations

import numpy as np
import pytest

from sparseloom.kernels import reference as ref
from sparseloom.rtl.config import RtlConfig
from sparseloom.rtl.export import designs
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.rtl.gemm_engine import WeightStationaryGemmEngine
from sparseloom.rtl.os_gemm_check import run_os_gemm
from sparseloom.rtl.verilog_check import SIMULATORS, VerilogSim, available
from sparseloom.sim.timing import array_cycles

from .rtl_operands import operands

# designs() also builds the single-tile tops these tests do not run
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.fixture(scope="module", params=SIMULATORS)
def simulator(request):
    name = request.param
    if available(name) is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install {name}); its Verilog run is skipped")
    return name


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return tmp_path_factory.mktemp("verilog")



def gaps_for(seed: int, cycles: int = 400):
    return np.random.default_rng(seed).random((cycles, 2)) < 0.25


def same(amaranth, verilog, a, values, index, n, m):
    assert verilog.log == amaranth.log                 # every result: cycle, column, all bits
    assert (verilog.done, verilog.last_write, verilog.writes, verilog.stalls, verilog.held) == \
        (amaranth.done, amaranth.last_write, amaranth.writes, amaranth.stalls, amaranth.held)
    np.testing.assert_array_equal(verilog.out, ref.nm_gemm(a, values, index, n, m))
    np.testing.assert_array_equal(verilog.out, amaranth.out)


WS = RtlConfig(3, 3, 4, 8, 32, 3, True, 3)      # 3 MAC stages: operand and product registered
# (rows of A, dense K, columns, N, M, chunk, interleave, gaps, result not ready now and then)
WS_CASES = [
    (5, 12, 7, 2, 4, 3, True, False, False),     # 2:4: 2 k-tiles, 3 column tiles, chunks 3 and 2
    (4, 5, 5, 1, 1, 2, False, False, False),     # dense, interleave off, partial k-tile and column tile
    (5, 12, 7, 2, 4, 3, True, True, False),      # 2:4 with both streams holding items back now and then
    (5, 12, 7, 2, 4, 3, False, True, True),      # and the result stream not ready now and then
]


def ready_for(seed: int, cycles: int = 400):
    return np.random.default_rng(seed).random(cycles) < 0.6


def test_ws_gemm_verilog_matches_amaranth(simulator, builds):
    dut = designs(WS, ["weight_stationary"], [])["ws_gemm"]
    sim = VerilogSim(simulator, builds, "ws_gemm")
    for i, (rows, k, cols, n, m, chunk, interleave, gap, hold) in enumerate(WS_CASES):
        a, values, index = operands(i, rows, k, cols, n, m)
        kw = dict(dut=dut, gaps=gaps_for(i) if gap else None, ready=ready_for(i) if hold else None)
        am = run_gemm(WS, a, values, index, n, m, chunk, interleave, **kw)
        vl = run_gemm(WS, a, values, index, n, m, chunk, interleave, **kw, driver=sim)
        same(am, vl, a, values, index, n, m)
        t = array_cycles(WS.rows, WS.cols, "weight_stationary", rows, cols, values.shape[0], WS.acc_latency,
                         interleave, WS.weight_double_buffer, chunk, mac_pipeline_stages=WS.mac_stages)
        assert vl.done == int(t.cycles) + vl.stalls
        assert (vl.stalls > 0) == gap and (vl.held > 0) == hold


OS = RtlConfig(4, 4, 4, 8, 32, 3, False, 2)     # 2 MAC stages: operand registered
# (rows of A, dense K, columns, N, M, interleave, group, gaps, result not ready now and then)
OS_CASES = [
    (6, 8, 7, 2, 4, True, None, False, False),   # 2:4, 4 tiles in groups of L = 3 and a remainder of 1
    (5, 3, 6, 1, 1, False, None, False, True),   # dense, one tile after another, partial tiles
    (6, 8, 7, 2, 4, True, 2, True, False),       # groups of 2, streams holding items back now and then
    (9, 1, 9, 1, 1, True, 1, False, False),      # K = 1 < L, groups of 1: drains queue (lag 4, R 4)
]


def test_os_gemm_verilog_matches_amaranth(simulator, builds):
    dut = designs(OS, ["output_stationary"], [])["os_gemm"]
    sim = VerilogSim(simulator, builds, "os_gemm")
    for i, (rows, k, cols, n, m, interleave, group, gap, hold) in enumerate(OS_CASES):
        a, values, index = operands(10 + i, rows, k, cols, n, m)
        kw = dict(dut=dut, gaps=gaps_for(10 + i) if gap else None, ready=ready_for(10 + i) if hold else None)
        am = run_os_gemm(OS, a, values, index, n, m, interleave, group, **kw)
        vl = run_os_gemm(OS, a, values, index, n, m, interleave, group, **kw, driver=sim)
        same(am, vl, a, values, index, n, m)
        t = array_cycles(OS.rows, OS.cols, "output_stationary", rows, cols, values.shape[0], OS.acc_latency,
                         interleave, False, group, mac_pipeline_stages=OS.mac_stages)
        assert vl.done == int(t.cycles) + vl.stalls
        assert (vl.stalls > 0) == (gap or hold) and (vl.held > 0) == hold


def test_the_verilog_run_sees_a_broken_design(builds):
    # the double-buffered schedule on an array built without shadow registers: its Verilog gives
    # the same wrong C as amaranth.sim (the route simulates the netlist, it does not echo the model)
    simulator = available()
    if simulator is None:
        pytest.skip("no Verilog simulator installed (apt-get install verilator or iverilog)")
    cfg = RtlConfig(3, 3, 4, 8, 32, 2, True)
    a, values, index = operands(7, 4, 6, 6, 1, 1)
    dut = WeightStationaryGemmEngine(cfg, max_m=4, max_n=6, max_k=6, max_chunk=4, shadow=False)
    am = run_gemm(cfg, a, values, index, 1, 1, None, True, dut=dut)
    vl = run_gemm(cfg, a, values, index, 1, 1, None, True, dut=dut, driver=VerilogSim(simulator, builds, "ws_bad"))
    assert vl.log == am.log
    assert (vl.out != ref.nm_gemm(a, values, index, 1, 1)).any()


def test_flexible_engine_verilog_switches_dataflows_like_amaranth(simulator, builds):
    # one run of the exported FlexibleGemmEngine: weight-, output-, output-, weight-stationary
    # GEMMs back to back, the mode switched at each start, one with stalls
    from sparseloom.rtl.flex_gemm_check import run_flex
    from sparseloom.rtl.flex_gemm_engine import FlexibleGemmEngine

    cfg = RtlConfig(3, 3, 4, 8, 32, 3, True)
    dut = FlexibleGemmEngine(cfg, max_m=8, max_n=8, max_k=16, max_chunk=4, max_group=3)
    spec = [("weight_stationary", 5, 12, 7, 2, 4, dict(chunk=3, interleave=True)),
            ("output_stationary", 6, 8, 7, 2, 4, dict(interleave=True, gaps=gaps_for(21))),
            ("output_stationary", 5, 3, 6, 1, 1, dict(interleave=False, ready=ready_for(22))),
            ("weight_stationary", 4, 5, 5, 1, 1, dict(chunk=2, interleave=False))]
    gemms = [(flow, *operands(20 + i, rows, k, cols, n, m), n, m, kw)
             for i, (flow, rows, k, cols, n, m, kw) in enumerate(spec)]
    am = run_flex(cfg, dut, gemms)
    vl = run_flex(cfg, dut, gemms, VerilogSim(simulator, builds, "flex_gemm").jobs)
    for (flow, a, values, index, n, m, kw), x, y in zip(gemms, am, vl):
        same(x, y, a, values, index, n, m)
    assert vl[1].stalls > 0 and vl[2].held > 0
