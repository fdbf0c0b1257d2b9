"""One array, both dataflows: :class:`FlexibleGemmEngine` runs weight- and output-stationary GEMMs
one after another in one simulation (the mode switched at each ``start``) on PEs with one
multiplier each; every GEMM is bit-exact against ``kernels.reference.nm_gemm``, shows its results
in exactly the cycles and columns the dedicated engine does, and finishes at the model's cycle."""
from __future__ import annotations

import re

import numpy as np
import pytest

from sparseloom.kernels import reference as ref
from sparseloom.rtl.config import RtlConfig
from amaranth.back import rtlil
from sparseloom.rtl.flex_gemm_check import run_flex
from sparseloom.rtl.flex_gemm_engine import FlexibleGemmEngine
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.rtl.gemm_engine import WeightStationaryGemmEngine
from sparseloom.rtl.os_gemm_check import run_os_gemm
from sparseloom.rtl.os_gemm_engine import OutputStationaryGemmEngine
from sparseloom.sim.timing import array_cycles

from .rtl_operands import operands

LIMITS = dict(max_m=8, max_n=8, max_k=16)
WS, OS = "weight_stationary", "output_stationary"



# (dataflow, rows of A, dense K, columns, N, M, kwargs): alternating modes, 2:4 and dense, interleave on and off
SEQUENCE = [
    (WS, 5, 12, 7, 2, 4, dict(chunk=3, interleave=True)),
    (OS, 6, 8, 7, 2, 4, dict(interleave=True)),
    (OS, 5, 3, 6, 1, 1, dict(interleave=False)),
    (WS, 4, 5, 5, 1, 1, dict(chunk=2, interleave=False)),
    (OS, 6, 8, 7, 2, 4, dict(interleave=True, group=2, gaps=np.random.default_rng(3).random((300, 2)) < 0.25)),
    (WS, 5, 12, 7, 2, 4, dict(chunk=4, interleave=True, gaps=np.random.default_rng(4).random((300, 2)) < 0.25)),
    (OS, 5, 8, 6, 2, 4, dict(interleave=True, ready=np.random.default_rng(5).random(300) < 0.6)),
    (WS, 5, 12, 7, 2, 4, dict(chunk=3, interleave=False, ready=np.random.default_rng(6).random(300) < 0.6)),
]


@pytest.mark.parametrize("db, stages", [(True, 1), (False, 1), (True, 3)])
def test_one_array_runs_both_dataflows(db, stages):
    cfg = RtlConfig(3, 3, 4, 8, 32, 3, db, stages)
    flex = FlexibleGemmEngine(cfg, **LIMITS, max_chunk=4, max_group=3)
    gemms = [(flow, *operands(i, rows, k, cols, n, m), n, m, kw)
             for i, (flow, rows, k, cols, n, m, kw) in enumerate(SEQUENCE)]
    runs = run_flex(cfg, flex, gemms)
    for (flow, a, values, index, n, m, kw), run in zip(gemms, runs):
        np.testing.assert_array_equal(run.out, ref.nm_gemm(a, values, index, n, m))
        if flow == WS:
            alone = run_gemm(cfg, a, values, index, n, m, dut=WeightStationaryGemmEngine(cfg, **LIMITS, max_chunk=4), **kw)
            group = kw["chunk"]
        else:
            alone = run_os_gemm(cfg, a, values, index, n, m, dut=OutputStationaryGemmEngine(cfg, **LIMITS, max_group=3),
                                **kw)
            group = kw.get("group")
        # the same results in the same cycles and columns as the dedicated engine
        assert [(cy, c) for cy, c, _ in run.log] == [(cy, c) for cy, c, _ in alone.log], flow
        assert (run.done, run.writes, run.stalls, run.held) == (alone.done, alone.writes, alone.stalls, alone.held)
        t = array_cycles(cfg.rows, cfg.cols, flow, a.shape[0], values.shape[1], values.shape[0], cfg.acc_latency,
                         kw["interleave"], db and flow == WS, group, mac_pipeline_stages=stages)
        assert run.done == int(t.cycles) + run.stalls
        assert (run.stalls > 0) == ("gaps" in kw or "ready" in kw) and (run.held > 0) == ("ready" in kw)


def multipliers(comp, op_bits: int) -> int:
    """The netlist's operand multipliers: $mul cells of two signed op_bits-wide inputs."""
    cells = re.findall(r"cell \$mul \S+\n((?:\s+parameter .*\n)+)", rtlil.convert(comp, name="top"))
    want = {"A_SIGNED": "1", "B_SIGNED": "1", "A_WIDTH": str(op_bits), "B_WIDTH": str(op_bits)}
    return sum(dict(re.findall(r"\\(\w+) (\d+)", c)).items() >= want.items() for c in cells)


def test_the_pes_share_one_multiplier():
    # the dedicated engines have R x C multipliers each; the flexible one too, not 2 R C
    cfg = RtlConfig(3, 3, 4, 8, 32, 3, True)
    count = lambda comp, name: multipliers(comp, cfg.op_bits)
    assert count(WeightStationaryGemmEngine(cfg, **LIMITS), "ws") == cfg.rows * cfg.cols
    assert count(OutputStationaryGemmEngine(cfg, **LIMITS), "os") == cfg.rows * cfg.cols
    assert count(FlexibleGemmEngine(cfg, **LIMITS), "flex") == cfg.rows * cfg.cols


def test_synthesized_flexible_engine_has_the_dsps_of_one_array(tmp_path):
    # ECP5 synthesis: the output-stationary engine's controller also multiplies (tile counts), so
    # its DSP count is R x C plus those; the flexible engine has exactly that many, not another R x C
    import shutil

    from sparseloom.rtl.export import to_verilog
    from sparseloom.rtl.flow import lint, synthesize

    cfg = RtlConfig(3, 3, 4, 8, 32, 3, True)
    tops = {"flex": FlexibleGemmEngine(cfg, **LIMITS, max_chunk=4),
            "ws": WeightStationaryGemmEngine(cfg, **LIMITS, max_chunk=4),
            "os": OutputStationaryGemmEngine(cfg, **LIMITS)}
    dsp = {}
    for name, comp in tops.items():
        (tmp_path / f"{name}.v").write_text(to_verilog(comp, name))
        dsp[name] = synthesize(tmp_path, f"{name}.v", name, "ecp5").resources()["DSP"]
    if shutil.which("verilator"):
        lint(tmp_path, "flex.v", "flex")
    assert dsp["ws"] == cfg.rows * cfg.cols
    assert dsp["flex"] == dsp["os"] < dsp["ws"] + dsp["os"]
