"""The whole-A100 preset: its stated peaks, decode bound by HBM, and 2:4 gains below 2x."""
from __future__ import annotations

import pytest

from sparseloom.arch.schema import load_arch
from sparseloom.sim.simulate import simulate, speedup_over_dense
from sparseloom.workloads.llm import llm_trace

from .conftest import ROOT

A100 = load_arch(ROOT / "arch" / "a100.yaml")


def test_the_stated_peaks():
    # NVIDIA A100 whitepaper / datasheet: 312 dense FP16 tensor TFLOPS, 1,555 GB/s, 40 MB L2
    assert 2 * A100.pes * A100.clock_mhz * 1e6 == pytest.approx(312e12, rel=0.001)
    assert A100.dram.bandwidth_gbyte_s == pytest.approx(1555)
    assert A100.buffer_for("weight").size_kib == 40960
    assert A100.buffer_for("input").bytes_per_cycle == 108 * 128         # 32 four-byte banks per SM


@pytest.mark.parametrize("nm", ["dense", "2:4"])
def test_llama2_decode_is_bound_by_hbm(nm):
    # 16 decode steps after a 256-token prompt, batch 1: every step reads all the weights
    workload = llm_trace("d", "llama2_7b", "inference", 256, 16, 1, "dense" if nm == "dense" else "bdwp", nm)
    t = simulate(A100, workload).totals
    floor = t["compulsory_bytes"] / A100.dram_bytes_per_cycle           # every byte once at the peak rate
    assert floor <= t["cycles"] <= 1.25 * floor                          # refresh and row switches: ~20% above
    assert t["stall_dram"] > 0.25 * t["cycles"]                          # the array waits for HBM


def test_two_of_four_gains_over_a_whole_prefill_stay_below_two():
    sparse = llm_trace("p", "llama2_7b", "inference", 512, 0, 1, "bdwp", "2:4")
    s = speedup_over_dense(A100, sparse)
    assert 1.3 < s["speedup"] < 1.8 and not s["above_ideal"]
