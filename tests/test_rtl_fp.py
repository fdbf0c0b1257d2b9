"""SAT's FP16 x FP16 -> FP32 datapath in RTL: the PE's multiplier and adder bit for bit against
``kernels.fp_reference`` on every pair of the formats' corner cases and on random bit patterns,
and whole GEMMs through the multi-tile engine (weight- and output-stationary, interleave on and
off, accumulator latencies 1 to 12) bit for bit against the reference in the array's order and
cycle for cycle against ``sim.timing.array_cycles`` at the engine's latency; the pruning lane on
FP16/FP32 magnitudes and the FP32 weight-update lane against the reference kernels."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from sparseloom.arch.schema import load_arch
from sparseloom.kernels import fp_reference as fr
from sparseloom.kernels import reference as ref
from sparseloom.rtl.check import run_pruning
from sparseloom.rtl.config import RtlConfig, rtl_config
from sparseloom.rtl.flex_gemm_check import run_flex
from sparseloom.rtl.flex_gemm_engine import FlexibleGemmEngine
from sparseloom.rtl.fp_arith import fp16_mul, fp32_add, fp32_mul
from sparseloom.rtl.gemm_check import run_gemm
from sparseloom.rtl.os_gemm_check import run_os_gemm
from sparseloom.rtl.pruning import PruningLane
from sparseloom.rtl.weight_update import LATENCY, WeightUpdateLane
from sparseloom.sim.timing import array_cycles

from .conftest import SAT
from .fp_operands import FP16_SPECIALS, FP32_SPECIALS, fp_operands, pairs, random_fp32
from .rtl_operands import resnet50_conv_mask


def unit(fn, width_a, width_b, xs, ys) -> np.ndarray:
    """``fn(m, a, b)`` in amaranth.sim for each pair (combinational)."""
    m = Module()
    a, b, out = Signal(width_a), Signal(width_b), Signal(32)
    m.d.comb += out.eq(fn(m, a, b))
    got = []

    async def bench(ctx):
        for x, y in zip(xs, ys):
            ctx.set(a, int(x))
            ctx.set(b, int(y))
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got, np.uint32)


def test_the_multiplier_is_the_reference():
    rng = np.random.default_rng(0)
    sa, sb = pairs(FP16_SPECIALS)
    xs = np.concatenate([sa, rng.integers(0, 1 << 16, 6000)])
    ys = np.concatenate([sb, rng.integers(0, 1 << 16, 6000)])
    np.testing.assert_array_equal(unit(fp16_mul, 16, 16, xs, ys), fr.fp16_mul(xs, ys))


def test_the_adder_is_the_reference():
    rng = np.random.default_rng(1)
    sa, sb = pairs(FP32_SPECIALS)
    ra, rb = random_fp32(rng, 8000)
    xs, ys = np.concatenate([sa, ra]), np.concatenate([sb, rb])
    np.testing.assert_array_equal(unit(fp32_add, 32, 32, xs, ys), fr.fp32_add(xs, ys))


def test_the_fp32_multiplier_is_the_reference():
    # the weight-update lane's multiply; extra pairs whose product falls near and below 2^-126
    rng = np.random.default_rng(5)
    sa, sb = pairs(FP32_SPECIALS)
    ra, rb = random_fp32(rng, 5000)
    e = rng.integers(1, 127, 2000).astype(np.uint32)
    ua = (e << 23) | rng.integers(0, 1 << 23, 2000).astype(np.uint32)
    ub = ((127 - e + rng.integers(-30, 3, 2000)).clip(0, 254).astype(np.uint32) << 23) \
        | rng.integers(0, 1 << 23, 2000).astype(np.uint32)
    xs, ys = np.concatenate([sa, ra, ua]), np.concatenate([sb, rb, ub])
    np.testing.assert_array_equal(unit(fp32_mul, 32, 32, xs, ys), fr.fp32_mul(xs, ys))


def fp_cfg(R, C, lanes, L, db=True, stages=3):
    return RtlConfig(R, C, lanes, 16, 32, L, db, stages, "fp16_fp32")


def check_ws(cfg, a, values, index, n, m, chunk, interleave):
    run = run_gemm(cfg, a, values, index, n, m, chunk, interleave)
    np.testing.assert_array_equal(run.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, n, m, cfg.rows))
    t = array_cycles(cfg.rows, cfg.cols, "weight_stationary", a.shape[0], values.shape[1], values.shape[0],
                     cfg.acc_latency, interleave, cfg.weight_double_buffer, chunk, mac_pipeline_stages=cfg.mac_stages)
    assert run.last_write == run.done == int(t.cycles)
    return run


def check_os(cfg, a, values, index, n, m, interleave, group=None):
    run = run_os_gemm(cfg, a, values, index, n, m, interleave, group)
    np.testing.assert_array_equal(run.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, n, m))
    t = array_cycles(cfg.rows, cfg.cols, "output_stationary", a.shape[0], values.shape[1], values.shape[0],
                     cfg.acc_latency, interleave, False, group, mac_pipeline_stages=cfg.mac_stages)
    assert run.done == int(t.cycles) and run.writes == a.shape[0] * values.shape[1]
    return run


# (R, C, lanes, L, MAC stages, interleave, rows of A, dense K, columns, N, M, chunk): partial tiles at
# every edge; L = 4 and 3 stages are SAT's (arch/sat.yaml)
WS_CASES = [
    (4, 4, 8, 4, 3, True, 9, 40, 10, 2, 8, 4),
    (4, 4, 8, 4, 3, False, 9, 40, 10, 2, 8, 4),
    (4, 4, 4, 1, 1, True, 7, 22, 9, 2, 4, 3),
    (3, 3, 4, 6, 2, True, 6, 10, 4, 1, 1, 2),        # one column tile, L > chunk: the adder hazard binds
    (4, 4, 8, 12, 3, True, 5, 24, 4, 2, 8, 2),       # L = 12
]


@pytest.mark.parametrize("R, C, lanes, L, stages, interleave, rows, k, cols, n, m, chunk", WS_CASES)
def test_weight_stationary_gemm(R, C, lanes, L, stages, interleave, rows, k, cols, n, m, chunk):
    a, values, index = fp_operands(rows * k + cols, rows, k, cols, n, m)
    check_ws(fp_cfg(R, C, lanes, L, stages=stages), a, values, index, n, m, chunk, interleave)


# (R, C, lanes, L, MAC stages, interleave, group, rows of A, dense K, columns, N, M)
OS_CASES = [
    (4, 4, 8, 4, 3, True, None, 9, 40, 10, 2, 8),
    (4, 4, 8, 4, 3, False, None, 9, 40, 10, 2, 8),
    (4, 4, 4, 1, 1, True, None, 9, 12, 10, 2, 4),
    (3, 3, 4, 6, 2, True, None, 7, 20, 8, 2, 4),
    (3, 3, 4, 12, 3, True, 3, 7, 20, 8, 1, 4),       # g = 3 < L = 12: the adder binds
    # executed K below L, groups below L: drains queue behind an earlier group's readout
    (3, 3, 4, 4, 1, True, 2, 7, 1, 8, 1, 1),         # K = 1, g = 2
    (3, 3, 4, 4, 3, True, 2, 7, 4, 8, 2, 4),         # 2:4, K_exec = 2, SAT's L and stages
    (3, 3, 4, 6, 3, True, 3, 7, 2, 8, 1, 1),         # K = 2, g = 3, L = 6: lag 8
    (3, 3, 4, 6, 3, False, None, 7, 2, 8, 1, 1),     # the same one tile after another
]


@pytest.mark.parametrize("R, C, lanes, L, stages, interleave, group, rows, k, cols, n, m", OS_CASES)
def test_output_stationary_gemm(R, C, lanes, L, stages, interleave, group, rows, k, cols, n, m):
    a, values, index = fp_operands(rows * k + cols, rows, k, cols, n, m)
    check_os(fp_cfg(R, C, lanes, L, stages=stages), a, values, index, n, m, interleave, group)


def test_interleave_hides_the_adder_latency_in_hardware():
    # the interleave mapping's gain is the adder latency, measured: output-stationary, L = 4, the
    # same GEMM with interleave off takes the cycles the model gives (checked above), here > 2x
    cfg = fp_cfg(4, 4, 8, 4)
    a, values, index = fp_operands(5, 8, 64, 8, 2, 8)
    on, off = (check_os(cfg, a, values, index, 2, 8, il).done for il in (True, False))
    assert off > 2 * on


def test_corner_values_and_stale_weights():
    # inf, NaN, subnormal and -0 operands; and on interleave, the last k-tile (2 of 4 rows) of
    # column tile 0 runs under the weights column tile 1 left in the rows it does not use: +inf.
    # Those rows' products are gated to +0 (inf x 0 would make column tile 0's outputs NaN)
    rng = np.random.default_rng(7)
    cfg = fp_cfg(4, 4, 4, 4)
    a, values, index = fp_operands(rng, 6, 12, 5, 2, 4)      # 6 executed rows: k-tiles of 4 and 2
    values[2:4, 4] = 0x7C00                                   # column tile 1 (column 4), rows 2-3: +inf
    a[0, :] = 0x7C00
    a[1, 3] = 0x7E00
    a[2, :] = 0x0001
    a[3, :] = 0x8000
    values[4, 0] = 0x8001
    for interleave in (True, False):
        got = check_ws(cfg, a, values, index, 2, 4, 3, interleave).out.astype(np.uint32)
        assert np.isfinite(got[2:, :4].view(np.float32)).all()
        assert not np.isfinite(got[:2].view(np.float32)).all()
    check_os(cfg, a, values, index, 2, 4, True)


def test_one_fp_array_runs_both_dataflows():
    cfg = fp_cfg(3, 3, 8, 4)
    a, values, index = fp_operands(11, 7, 24, 5, 2, 8)
    dut = FlexibleGemmEngine(cfg, max_m=8, max_n=8, max_k=8, max_chunk=8)
    ws, os_ = run_flex(cfg, dut, [("weight_stationary", a, values, index, 2, 8, {"chunk": 3, "interleave": True}),
                                  ("output_stationary", a, values, index, 2, 8, {"interleave": True})])
    np.testing.assert_array_equal(ws.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, 2, 8, 3))
    np.testing.assert_array_equal(os_.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, 2, 8))
    for run, flow, chunk in ((ws, "weight_stationary", 3), (os_, "output_stationary", None)):
        t = array_cycles(3, 3, flow, 7, 5, values.shape[0], 4, True, flow == "weight_stationary", chunk,
                         mac_pipeline_stages=3)
        assert run.done == int(t.cycles), flow


def test_sat_builds_its_fp16_fp32_pe_at_its_latency():
    arch = load_arch(SAT)
    cfg = rtl_config(arch)
    assert (cfg.pe, cfg.op_bits, cfg.acc_bits) == ("fp16_fp32", 16, 32)
    assert (cfg.acc_latency, cfg.mac_stages) == (arch.array.accumulator_latency_cycles, 
                                                 arch.array.mac_pipeline_stages)
    # ResNet-50 layer1.0.conv2's forward GEMM with its trained 2:8 mask, sliced to 9 rows of A,
    # 24 dense inputs (6 executed rows) and 10 output channels, on a 4x4 array
    b_mask, interleave = resnet50_conv_mask(arch)
    cfg = cfg.resized(4, 4)
    a, values, index = fp_operands(50, 9, 24, 10, 2, 8, b_mask[:24, :10])
    check_ws(cfg, a, values, index, 2, 8, 4, interleave)
    check_os(cfg, a, values, index, 2, 8, interleave)


@pytest.mark.parametrize("bits, n, m", [(16, 2, 8), (16, 1, 4), (32, 2, 8), (32, 3, 5)])
def test_pruning_lane_on_float_magnitudes(bits, n, m):
    # SORE's top-N-of-M at SAT's precisions (FP16 weights, FP32 master weights): the kept mask of
    # the reference's top-N by abs (ties to the earlier), on values with many ties (+-0, equal
    # magnitudes of both signs), subnormals and infinities
    ftype, utype = (np.float16, np.uint16) if bits == 16 else (np.float32, np.uint32)
    rng = np.random.default_rng(bits + m)
    pool = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, np.inf, -np.inf, 6e-8, -6e-8, 3.0], ftype)
    groups = rng.choice(pool, (12, m))
    lane = PruningLane(n, m, bits, floating=True)
    results, cycles = run_pruning(lane, groups.view(utype).astype(np.int64))
    expected = ref.topn_mask(groups.T.astype(np.float64), n, m).T
    for g, (mask, values, positions) in enumerate(results):
        assert mask == sum(1 << p for p in range(m) if expected[g, p])
        assert sorted(zip(positions, values)) == [(p, int(groups.view(utype)[g, p])) for p in sorted(positions)]
    assert cycles == [m * (g + 1) for g in range(len(groups))]


def test_pruning_lane_ranks_nan_above_infinity():
    results, _ = run_pruning(PruningLane(1, 4, 16, floating=True), np.array([[0x7C00, 0x7E00, 0xFC00, 0x3C00]]))
    assert results[0][0] == 0b0010


def test_weight_update_lane_is_the_reference():
    # SAT's FP32 update lane, w - lr * g, a weight a cycle: every result bit for bit the reference's
    # (product rounded, then the difference), LATENCY cycles after its weight, for ordinary updates,
    # updates whose product is subnormal or cancels the weight, and special values
    rng = np.random.default_rng(12)
    count = 3000
    w = (rng.standard_normal(count) * 0.05).astype(np.float32)
    g = (rng.standard_normal(count) * 10.0 ** rng.integers(-30, 3, count)).astype(np.float32)
    g[:50] = w[:50] / np.float32(1e-3)                                     # lr * g close to w
    specials = FP32_SPECIALS.view(np.float32)
    w[50:50 + len(specials)], g[100:100 + len(specials)] = specials, specials
    for lr in (1e-3, 2.0 ** -20, 1e-38):
        lane = WeightUpdateLane()
        lr_bits = int(np.float32(lr).view(np.uint32))
        out, seen = [], []

        async def bench(ctx):
            ctx.set(lane.lr, lr_bits)
            for cycle in range(count + LATENCY):
                on = cycle < count
                ctx.set(lane.valid, int(on))
                ctx.set(lane.w, int(w.view(np.uint32)[cycle]) if on else 0)
                ctx.set(lane.g, int(g.view(np.uint32)[cycle]) if on else 0)
                await ctx.tick()
                if ctx.get(lane.out_valid):
                    out.append(ctx.get(lane.w_new))
                    seen.append(cycle)

        sim = Simulator(lane)
        sim.add_clock(1e-8)
        sim.add_testbench(bench)
        sim.run()
        np.testing.assert_array_equal(np.array(out, np.uint32), fr.sgd_update_fp32(w.view(np.uint32),
                                                                                    g.view(np.uint32), lr))
        assert seen == list(range(LATENCY - 1, count + LATENCY - 1))


def test_the_area_model_prices_the_pe_the_arch_names():
    # SAT (fp16/fp32) is priced by the synthesised FP PE rows; the same arch with int8/int32
    # dtypes by the int8 rows; both flexible arrays at the output-stationary PE, the larger
    from dataclasses import replace

    from sparseloom.explore.area import area, resource_table

    sat = load_arch(SAT)
    fp = [r for r in resource_table() if (r.pe, r.family, r.lanes) == ("fp16_fp32", "xcup", 8)]
    assert area(sat)["lut"] == round(max(r.LUT / (r.rows * r.cols) for r in fp) * sat.pes)
    int8 = area(replace(sat, array=replace(sat.array, operand_dtype="int8", accumulator_dtype="int32")))
    assert int8["lut"] < area(sat)["lut"]
    with pytest.raises(ValueError, match="bf16"):
        area(replace(sat, array=replace(sat.array, operand_dtype="bf16")))


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_the_exported_fp_verilog_matches_amaranth(tmp_path):
    # the FP engines exactly as rtlgen ships them (default limits), in Icarus Verilog: every result
    # (cycle, column, all bits) and done as amaranth.sim's, C the reference's
    from sparseloom.rtl.export import designs
    from sparseloom.rtl.verilog_check import VerilogSim, available

    if available("iverilog") is None:
        pytest.skip("iverilog is not installed (Debian: apt-get install iverilog); the FP Verilog run is skipped")
    cfg = fp_cfg(2, 2, 4, 4)
    tops = designs(cfg, ["weight_stationary", "output_stationary"], [])
    a, values, index = fp_operands(3, 5, 12, 5, 2, 4)
    for name, run, k_tile in (("ws_gemm", lambda **kw: run_gemm(cfg, a, values, index, 2, 4, 3, True, **kw), 2),
                              ("os_gemm", lambda **kw: run_os_gemm(cfg, a, values, index, 2, 4, True, **kw), None)):
        amaranth = run(dut=tops[name])
        verilog = run(dut=tops[name], driver=VerilogSim("iverilog", tmp_path, name))
        assert verilog.log == amaranth.log and verilog.done == amaranth.done
        np.testing.assert_array_equal(verilog.out.astype(np.uint32), fr.nm_gemm_fp16(a, values, index, 2, 4, k_tile))
