"""The whole-GEMM output-stationary engine in amaranth.sim: every output bit-exact against
``kernels.reference.nm_gemm`` and the GEMM's last drain cycle (``done``) at exactly the cycle
``sim.timing.array_cycles`` gives (``dataflow.flows.output_stationary``: tiles one after another,
or groups of g tiles interleaved on g accumulators per PE with shadow drains)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.kernels import reference as ref
from sparseloom.rtl.config import RtlConfig
from sparseloom.rtl.os_gemm_check import output_tiles, run_os_gemm
from sparseloom.sim.timing import array_cycles

from .rtl_operands import operands


def check(cfg: RtlConfig, rows, k, cols, n, m, interleave, group, seed=0, **kw):
    a, values, index = operands(np.random.default_rng(seed), rows, k, cols, n, m)
    run = run_os_gemm(cfg, a, values, index, n, m, interleave, group, **kw)
    np.testing.assert_array_equal(run.out, ref.nm_gemm(a, values, index, n, m))
    assert run.writes == rows * cols                                       # every output once
    t = array_cycles(cfg.rows, cfg.cols, "output_stationary", rows, cols, values.shape[0], cfg.acc_latency,
                     interleave, False, group, mac_pipeline_stages=cfg.mac_stages)
    assert run.done == int(t.cycles) + run.stalls, (cfg, rows, k, cols, n, m, interleave, group)
    # the drain reads all R rows of the last group (as the model counts): the last output shows in
    # its last cycle when the last tiles are full, earlier by the empty rows/columns of edge tiles
    assert run.last_write <= run.done
    if rows % cfg.rows == 0 and cols % cfg.cols == 0:
        assert run.last_write == run.done
    return run, t


# (R, C, lanes, L, interleave, g, rows of A, dense K, columns, N, M): g None is the model's default (L)
CASES = [
    (4, 4, 4, 1, False, None, 9, 12, 10, 2, 4),   # 3 x 3 tiles, partial in m and n, L = 1, one after another
    (4, 4, 4, 1, True, None, 9, 12, 10, 2, 4),    # interleave with g = L = 1
    (4, 4, 8, 3, False, None, 6, 16, 7, 2, 8),    # 2:8, L = 3, a dependent MAC every 3 cycles
    (4, 4, 8, 3, True, None, 6, 16, 7, 2, 8),     # g = L = 3 of 4 tiles: a remainder group of 1
    (4, 4, 4, 3, True, 2, 9, 8, 10, 1, 1),        # dense, g = 2 < L: the adder binds, remainder 1
    (4, 4, 4, 2, True, 4, 8, 8, 8, 1, 4),         # 1:4, g = 4 > L, full tiles
    (3, 3, 4, 4, True, 5, 7, 20, 8, 2, 4),        # 3x3, 9 tiles in groups of 5 and 4
    (3, 3, 4, 2, True, None, 3, 2, 12, 1, 1),     # k = 1: the drain is the bottleneck (issue waits)
    (2, 2, 4, 5, True, 1, 5, 3, 5, 1, 1),         # g = 1, L = 5: drain-bound, every group waits
    (4, 4, 4, 2, False, None, 3, 4, 3, 1, 1),     # one partial tile
]


@pytest.mark.parametrize("R, C, lanes, L, interleave, g, rows, k, cols, n, m", CASES)
def test_whole_gemm(R, C, lanes, L, interleave, g, rows, k, cols, n, m):
    check(RtlConfig(R, C, lanes, 8, 32, L, False), rows, k, cols, n, m, interleave, g, seed=rows * k + cols)


def test_random_shapes():
    rng = np.random.default_rng(2025)
    for _ in range(10):
        R, C = (int(v) for v in rng.integers(2, 5, 2))
        n, m = [(1, 1), (2, 4), (1, 4), (2, 8)][rng.integers(4)]
        cfg = RtlConfig(R, C, 8 if m > 4 else 4, 8, 32, int(rng.integers(1, 6)), False, int(rng.integers(1, 5)))
        rows, k, cols = int(rng.integers(1, 12)), int(rng.integers(1, 25)), int(rng.integers(1, 12))
        tiles = len(output_tiles(cfg, rows, cols))
        g = int(rng.integers(1, tiles + 1)) if rng.integers(2) else None
        check(cfg, rows, k, cols, n, m, bool(rng.integers(2)), g, seed=int(rng.integers(1 << 30)))


# Executed K below the adder latency, groups below it: a group issues for (k - 1) L + g cycles,
# less than its lag L - 1 + D to the drain, so later groups finish issuing before an earlier
# group's readout starts and their drains wait in the controller's queue (a single pending drain
# lost them: outputs shown 0 times). 7 x 8 outputs, so 9 tiles on 3 x 3, 12 on 2 x 2, 28 on 1 x 2.
# (R, C, L, MAC stages, g, dense K, N, M)
SHORT_K = [
    (3, 3, 4, 1, 2, 1, 1, 1),     # K = 1: groups of 2, each 2 cycles of issue, 4 of lag
    (3, 3, 4, 1, 2, 2, 1, 1),     # K = 2: (k - 1) L + g = 6 cycles of issue
    (3, 3, 4, 1, 2, 4, 2, 4),     # 2:4, K_exec = 2
    (3, 3, 6, 3, 3, 2, 1, 1),     # L = 6, 3 MAC stages: lag 8
    (3, 3, 6, 3, 2, 1, 1, 1),     # lag 8, 2-cycle groups: drain-bound
    (2, 2, 6, 3, 1, 1, 1, 1),     # g = 1, R = 2, lag 8: the deepest queue, 1 + ceil(7 / 2) = 5 drains
    (1, 2, 5, 2, 1, 2, 1, 1),     # R = 1: one-cycle drains, lag 6
    (3, 3, 3, 2, 3, 1, 1, 1),     # g = L, K = 1: the drain waits on the adder's lag only
]


@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.parametrize("R, C, L, stages, g, k, n, m", SHORT_K)
def test_executed_k_below_the_adder_latency(R, C, L, stages, g, k, n, m, interleave):
    check(RtlConfig(R, C, 4, 8, 32, L, False, stages), 7, k, 8, n, m, interleave, g, seed=R * L + k)


def test_short_k_with_stalls_and_backpressure():
    # queued drains while both input streams miss items and the result stream is not always ready
    cfg = RtlConfig(3, 3, 4, 8, 32, 6, False, 3)
    run, _ = check(cfg, 7, 2, 8, 1, 1, True, 2, seed=5, bubbles=0.3, ready=np.random.default_rng(5).random(400) < 0.6)
    assert run.stalls > run.held > 0


@given(R=st.integers(1, 3), C=st.integers(1, 3), L=st.integers(1, 6), stages=st.integers(1, 3),
       k=st.integers(1, 3), rows=st.integers(1, 12), cols=st.integers(1, 12), interleave=st.booleans(),
       group=st.integers(1, 6), seed=st.integers(0, 1 << 16))
@settings(max_examples=50, deadline=None)
def test_short_reductions_sweep(R, C, L, stages, k, rows, cols, interleave, group, seed):
    # every small (K_exec, g, L, MAC stages, array, shape): exact, every output once, the model's cycle
    cfg = RtlConfig(R, C, 4, 8, 32, L, False, stages)
    check(cfg, rows, k, cols, 1, 1, interleave, min(group, len(output_tiles(cfg, rows, cols))), seed=seed)


def test_interleave_beats_one_after_another_by_the_adder_latency():
    cfg = RtlConfig(4, 4, 4, 8, 32, 4, False)
    seq, _ = check(cfg, 8, 12, 8, 1, 1, False, None)
    inter, _ = check(cfg, 8, 12, 8, 1, 1, True, None)
    assert inter.done < seq.done / 2


def test_stalled_streams_keep_the_results_exact():
    cfg = RtlConfig(3, 3, 4, 8, 32, 3, False)
    run, t = check(cfg, 7, 12, 7, 2, 4, True, 2, seed=3, bubbles=0.3)
    assert run.stalls > 0


@pytest.mark.parametrize("stages", [2, 3, 5])
@pytest.mark.parametrize("case", [2, 3, 6, 8])
def test_pipelined_mac(case, stages):
    # the MAC stages delay every sum, not the dependent issue (the accumulation loop skips them)
    R, C, lanes, L, interleave, g, rows, k, cols, n, m = CASES[case]
    check(RtlConfig(R, C, lanes, 8, 32, L, False, stages), rows, k, cols, n, m, interleave, g, seed=rows * k + cols)


def test_result_backpressure_holds_the_engine():
    # the drain waits while the result stream is not ready: every output once, exact, and the
    # last drain exactly one cycle later per cycle a result waited
    cfg = RtlConfig(3, 3, 4, 8, 32, 3, False, 3)
    ready = np.random.default_rng(8).random(400) < 0.5
    run, t = check(cfg, 7, 12, 8, 2, 4, True, 2, seed=4, ready=ready)
    assert run.held > 0 and run.stalls == run.held
