"""The whole-GPU presets (A100, H100): their stated peaks, decode bound by HBM, and 2:4 gains
over a whole prefill below 2x."""
from __future__ import annotations

import pytest

from sparseloom.arch.schema import load_arch
from sparseloom.sim.simulate import simulate, speedup_over_dense
from sparseloom.workloads.llm import llm_trace

from .conftest import ROOT

# NVIDIA whitepapers / datasheets: dense FP16 tensor TFLOPS, HBM GB/s, L2 KiB, SMs
GPUS = {"a100": (312e12, 1555, 40960, 108), "h100": (989.4e12, 3350, 51200, 132)}


@pytest.fixture(scope="module", params=sorted(GPUS))
def gpu(request):
    return request.param, load_arch(ROOT / "arch" / f"{request.param}.yaml")


def test_the_stated_peaks(gpu):
    name, arch = gpu
    tflops, gbs, l2, sms = GPUS[name]
    assert 2 * arch.pes * arch.clock_mhz * 1e6 == pytest.approx(tflops, rel=0.001)
    assert arch.dram.bandwidth_gbyte_s == pytest.approx(gbs)
    assert arch.buffer_for("weight").size_kib == l2
    assert arch.buffer_for("input").bytes_per_cycle == sms * 128          # 32 four-byte banks per SM


@pytest.mark.parametrize("nm", ["dense", "2:4"])
def test_llama2_decode_is_bound_by_hbm(gpu, nm):
    # 16 decode steps after a 256-token prompt, batch 1: every step reads all the weights
    workload = llm_trace("d", "llama2_7b", "inference", 256, 16, 1, "dense" if nm == "dense" else "bdwp", nm)
    t = simulate(gpu[1], workload).totals
    floor = t["compulsory_bytes"] / gpu[1].dram_bytes_per_cycle         # every byte once at the peak rate
    assert floor <= t["cycles"] <= 1.35 * floor     # refresh, row switches and kernel launches above it
    assert t["stall_dram"] > 0.25 * t["cycles"]                          # the array waits for HBM


def test_two_of_four_gains_over_a_whole_prefill_stay_below_two(gpu):
    sparse = llm_trace("p", "llama2_7b", "inference", 512, 0, 1, "bdwp", "2:4")
    s = speedup_over_dense(gpu[1], sparse)
    assert 1.3 < s["speedup"] < 1.8 and not s["above_ideal"]
