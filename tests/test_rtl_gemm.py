"""The whole-GEMM weight-stationary engine in amaranth.sim: every output bit-exact against
``kernels.reference.nm_gemm`` and the last accumulator write at exactly the cycle
``sim.timing.array_cycles`` gives (the recurrence of ``dataflow.flows.stationary``), for MAC
pipelines of 1 to 5 stages; with the result stream's ready low at random, every result exactly
once and the end later by exactly the cycles a result waited."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sparseloom.arch.schema import load_arch
from sparseloom.kernels import reference as ref
from sparseloom.rtl.config import RtlConfig, rtl_config
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.sim.timing import array_cycles
from sparseloom.workloads.trace import load_workload

from .conftest import RESNET50_2OF8, SAT
from .rtl_operands import operands, resnet50_conv_mask



def model(cfg: RtlConfig, rows: int, cols: int, k_exec: int, interleave: bool, chunk):
    return array_cycles(cfg.rows, cfg.cols, "weight_stationary", rows, cols, k_exec, cfg.acc_latency, interleave,
                        cfg.weight_double_buffer, chunk, mac_pipeline_stages=cfg.mac_stages)


def check(cfg, a, values, index, n, m, chunk, interleave, **kw):
    run = run_gemm(cfg, a, values, index, n, m, chunk, interleave, **kw)
    np.testing.assert_array_equal(run.out, ref.nm_gemm(a, values, index, n, m))
    rows, (k_exec, cols) = a.shape[0], values.shape
    assert run.writes == -(-k_exec // cfg.rows) * rows * cols          # one write per k-tile and output
    assert run.done == run.last_write
    assert run.stalls == 0 or kw.get("bubbles") or kw.get("ready") is not None
    return run, model(cfg, rows, cols, k_exec, interleave, chunk)


# (R, C, lanes, L, double buffer, interleave, rows of A, dense K, columns, N, M, chunk): every case has
# partial tiles at the edges of k (executed rows), n and m (the last chunk)
CASES = [
    (4, 4, 8, 1, True, True, 9, 40, 10, 2, 8, 4),      # 2:8: 3 k-tiles (4, 4, 2), 3 column tiles, chunks 4, 4, 1
    (4, 4, 8, 3, True, False, 9, 40, 10, 2, 8, 4),
    (4, 4, 4, 3, False, True, 7, 22, 9, 2, 4, 3),       # 2:4: 12 executed rows
    (4, 4, 4, 1, False, False, 7, 10, 6, 1, 1, 5),      # dense
    (3, 3, 4, 3, True, True, 8, 36, 7, 1, 4, 3),        # 1:4 on 3x3
    (3, 3, 4, 1, False, True, 5, 7, 8, 1, 1, None),     # dense, one chunk
    (3, 3, 8, 3, False, False, 6, 16, 5, 2, 8, 4),      # 2:8 on 3x3, no double buffer, interleave off
    (4, 4, 4, 6, True, True, 6, 10, 4, 1, 1, 2),        # one column tile, L > s: the accumulator hazard binds
]


@pytest.mark.parametrize("R, C, lanes, L, db, interleave, rows, k, cols, n, m, chunk", CASES)
def test_whole_gemm(R, C, lanes, L, db, interleave, rows, k, cols, n, m, chunk):
    cfg = RtlConfig(R, C, lanes, 8, 32, L, db)
    a, values, index = operands(np.random.default_rng(rows * k + cols), rows, k, cols, n, m)
    run, t = check(cfg, a, values, index, n, m, chunk, interleave)
    assert run.last_write == int(t.cycles)


@pytest.mark.parametrize("stages", [2, 3, 5])
@pytest.mark.parametrize("case", [0, 1, 3, 6, 7])
def test_pipelined_mac(case, stages):
    # operand (M:1 multiplexer output and weight) registered from 2 stages, the product from 3,
    # more product registers beyond: the same results, in the cycle the model gives for the stages
    R, C, lanes, L, db, interleave, rows, k, cols, n, m, chunk = CASES[case]
    cfg = RtlConfig(R, C, lanes, 8, 32, L, db, stages)
    a, values, index = operands(np.random.default_rng(rows * k + cols), rows, k, cols, n, m)
    run, t = check(cfg, a, values, index, n, m, chunk, interleave)
    assert run.last_write == int(t.cycles)
    one = model(RtlConfig(R, C, lanes, 8, 32, L, db), rows, cols, values.shape[0], interleave, chunk)
    assert int(t.cycles) > int(one.cycles)


@pytest.mark.parametrize("stages", [1, 3])
def test_result_backpressure_holds_the_engine(stages):
    # the result stream's ready low at random: every result still taken exactly once, in the same
    # order and bits, and the GEMM ends exactly one cycle later per cycle a result waited
    cfg = RtlConfig(3, 3, 8, 8, 32, 3, True, stages)
    a, values, index = operands(np.random.default_rng(12), 7, 24, 7, 2, 8)
    free, t = check(cfg, a, values, index, 2, 8, 3, True)
    assert free.held == 0 and free.last_write == int(t.cycles)
    ready = np.random.default_rng(stages).random(400) < 0.6
    run, _ = check(cfg, a, values, index, 2, 8, 3, True, ready=ready)
    assert run.held > 0
    assert run.done == int(t.cycles) + run.held and run.stalls == run.held
    assert [(c, bits) for _, c, bits in run.log] == [(c, bits) for _, c, bits in free.log]
    # with input gaps as well: the end moves by every stalled cycle (a cycle with both counts once)
    gaps = np.random.default_rng(5).random((400, 2)) < 0.2
    both, _ = check(cfg, a, values, index, 2, 8, 3, True, ready=ready, gaps=gaps)
    assert both.done == int(t.cycles) + both.stalls and both.stalls >= both.held > 0
    assert [(c, bits) for _, c, bits in both.log] == [(c, bits) for _, c, bits in free.log]


def test_random_shapes():
    rng = np.random.default_rng(2024)
    for _ in range(8):
        R, C = (int(v) for v in rng.integers(2, 5, 2))
        n, m = [(1, 1), (2, 4), (1, 4), (2, 8)][rng.integers(4)]
        cfg = RtlConfig(R, C, 8 if m > 4 else 4, 8, 32, int(rng.integers(1, 6)), bool(rng.integers(2)),
                        int(rng.integers(1, 5)))
        rows, k, cols = int(rng.integers(1, 12)), int(rng.integers(1, 33)), int(rng.integers(1, 13))
        chunk = int(rng.integers(1, rows + 1))
        interleave = bool(rng.integers(2))
        a, values, index = operands(rng, rows, k, cols, n, m)
        run, t = check(cfg, a, values, index, n, m, chunk, interleave)
        assert run.last_write == int(t.cycles), (cfg, rows, k, cols, n, m, chunk, interleave)


def test_the_hazard_case_is_bound_by_the_accumulator():
    R, C, lanes, L, db, interleave, rows, k, cols, n, m, chunk = CASES[-1]
    cfg = RtlConfig(R, C, lanes, 8, 32, L, db)
    t = model(cfg, rows, cols, k, interleave, chunk)
    assert int(t.acc_hazard) > 0
    # issuing a dependent tile one cycle before S_dep + L reads a partial sum not yet written
    a, values, index = operands(np.random.default_rng(rows * k + cols), rows, k, cols, n, m)
    early = run_gemm(cfg, a, values, index, n, m, chunk, interleave, early=1)
    assert (early.out != ref.nm_gemm(a, values, index, n, m)).any()
    assert early.last_write < int(t.cycles)


@pytest.mark.parametrize("interleave", [True, False])
def test_without_shadow_registers_the_results_break(interleave):
    # double-buffered schedule, array built without shadows: the next tile's preload overwrites
    # weights the current tile still multiplies with
    cfg = RtlConfig(4, 4, 4, 8, 32, 2, True)
    a, values, index = operands(np.random.default_rng(7), 6, 12, 8, 1, 1)
    good, _ = check(cfg, a, values, index, 1, 1, None, interleave)
    bad = run_gemm(cfg, a, values, index, 1, 1, None, interleave, shadow=False)
    assert bad.last_write == good.last_write
    assert (bad.out != good.out).any()


def test_stalled_streams_keep_the_results_exact():
    cfg = RtlConfig(3, 3, 8, 8, 32, 3, True)
    a, values, index = operands(np.random.default_rng(11), 7, 24, 7, 2, 8)
    run, t = check(cfg, a, values, index, 2, 8, 3, True, bubbles=0.3, seed=5)
    assert run.stalls > 0 and run.last_write == int(t.cycles) + run.stalls      # the stalls, and no more


def test_rtl_config_takes_latency_and_double_buffer_from_the_arch():
    arch = load_arch(SAT)
    cfg = rtl_config(arch)
    assert cfg.acc_latency == arch.array.accumulator_latency_cycles == 4
    assert cfg.weight_double_buffer is arch.array.weight_double_buffer is True
    single = replace(arch, array=replace(arch.array, accumulator_latency_cycles=2, weight_double_buffer=False))
    assert (rtl_config(single).acc_latency, rtl_config(single).weight_double_buffer) == (2, False)


def int8(cfg: RtlConfig) -> RtlConfig:
    """An arch's array and timing with the int8 x int8 -> int32 PE (these tests' operands)."""
    return replace(cfg, pe="int", op_bits=8, acc_bits=32)


def test_gemm_cut_from_the_resnet50_trace():
    # ResNet-50 BDWP 2:8 on SAT (L = 4, double-buffered, interleave on): layer1.0.conv2's forward
    # GEMM with its real trained-trace mask, sliced to 9 rows of A, 24 dense inputs (3 groups of
    # 8 channels at one filter tap: 6 executed rows) and 10 output channels, on a 4x4 array
    arch = load_arch(SAT)
    b_mask, interleave = resnet50_conv_mask(arch)
    cfg = int8(rtl_config(arch)).resized(4, 4)
    assert (cfg.acc_latency, cfg.weight_double_buffer, cfg.lanes) == (4, True, 8)
    rows, k, cols, chunk = 9, 24, 10, 4
    a, values, index = operands(np.random.default_rng(50), rows, k, cols, 2, 8, b_mask[:k, :cols])
    run, t = check(cfg, a, values, index, 2, 8, chunk, interleave)
    assert run.last_write == int(t.cycles)


def test_rtlgen_exports_the_gemm_engine_with_the_arch_latency(tmp_path):
    from sparseloom.rtl.export import designs, to_verilog
    from sparseloom.rtl.flow import synthesize

    cfg = int8(rtl_config(load_arch(SAT))).resized(4, 4)
    engine = designs(cfg, ["weight_stationary"], [])["ws_gemm"]
    assert engine.cfg.acc_latency == 4 and engine.shadow
    verilog = to_verilog(engine, "ws_gemm")
    assert verilog == to_verilog(designs(cfg, ["weight_stationary"], [])["ws_gemm"], "ws_gemm")
    (tmp_path / "ws_gemm.v").write_text(verilog)
    resources = synthesize(tmp_path, "ws_gemm.v", "ws_gemm", "ecp5").resources()
    assert resources["DSP"] == cfg.rows * cfg.cols                    # one multiplier per PE
    assert resources["BRAM"] >= cfg.cols                               # a block-RAM accumulator bank per column


def test_gemm_cut_from_the_deit_trace():
    # DeiT-Small BDWP 2:8 on SAT: blocks.0.fc1 (384 -> 1536) backward-data GEMM,
    # as the schedule maps it (chunk and interleave from the search), sliced to 6 tokens, 32 dense
    # inputs (4 groups of 8 output channels: 8 executed rows) and 7 columns on a 4x4 array; the
    # trace has no masks, so top-2-of-8 of seeded weights
    arch = load_arch(SAT)
    from sparseloom.sim.simulate import simulate

    w = load_workload(RESNET50_2OF8.parent / "deit_small_2of8")
    schedule = simulate(arch, w).schedule
    g = schedule.gemms
    i = next(i for i in range(len(g)) if w.layers[g.layer[i]].name == "blocks.0.fc1" and g.phase[i] == "BP")
    assert (g.pattern[i], g.dataflow[i]) == ("2:8", "weight_stationary")
    cfg = int8(rtl_config(arch)).resized(4, 4)
    rows, k, cols = 6, 32, 7
    chunk = min(int(g.chunk[i]), rows - 1)      # keep a partial last chunk in the slice
    a, values, index = operands(np.random.default_rng(16), rows, k, cols, 2, 8)
    run, t = check(cfg, a, values, index, 2, 8, chunk, bool(g.interleave[i]))
    assert run.last_write == int(t.cycles)
