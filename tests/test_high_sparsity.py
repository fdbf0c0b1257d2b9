"""High N:M ratios and the presets: starving for input bandwidth at 1:32, and every preset on
every committed workload."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.core.errors import CapacityError
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta, load_workload

from .conftest import ROOT

S4 = load_arch(ROOT / "arch" / "s4.yaml")
PRESETS = sorted(p.stem for p in (ROOT / "arch").glob("*.yaml"))
TRACES = sorted(p.name for p in (ROOT / "workloads").iterdir() if (p / "layers.csv").exists())


def wide_layer(nm: str) -> Workload:
    """A 1x1 convolution with 4,096 input channels: 1:32 leaves 128 kept weights per filter, two full tiles of rows."""
    pattern = NMPattern.parse(nm)
    meta = WorkloadMeta("wide", "wide", "none", [4096, 14, 14], 8, "inference", Sparsity("bdwp", nm), Provenance("none", "test"))
    return Workload(meta, [Layer("wide", "conv", 4096, 256, H=14, W=14, fwd_nm=pattern, bwd_nm=pattern, input_grad=0)])


def with_bandwidth(input_bits: int, dram_gbyte_s: float):
    buffers = [replace(b, width_bits=input_bits) if b.name == "input_buffer" else b for b in S4.buffers]
    return replace(S4, buffers=buffers, dram=replace(S4.dram, channel_bandwidth_gbyte_s=dram_gbyte_s))


def test_1of32_starves_without_input_bandwidth_and_nears_ideal_with_it():
    # 1:32 runs the 6.4 MB of input activations through 32x fewer cycles: 512 B per cycle from DRAM
    narrow, wide = with_bandwidth(16, S4.dram.channel_bandwidth_gbyte_s), with_bandwidth(4096, 1000.0)
    for arch, starving in ((narrow, True), (wide, False)):
        dense, sparse = simulate(arch, wide_layer("dense")), simulate(arch, wide_layer("1:32"))
        speedup = dense.totals["cycles"] / sparse.totals["cycles"]
        if starving:        # every kept weight needs its 32 candidate activations from the input buffer
            assert sparse.totals["stall_buffer"] > 0.5 * sparse.totals["cycles"]
            assert speedup < 8
        else:
            assert sparse.totals["stall_buffer"] == sparse.totals["stall_dram"] == 0
            assert speedup > 0.9 * 32


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_every_committed_workload(preset):
    arch = load_arch(ROOT / "arch" / f"{preset}.yaml")
    for trace in TRACES:
        workload = load_workload(ROOT / "workloads" / trace)
        try:
            result = simulate(arch, workload)
        except CapacityError as exc:   # allowed, if it says which layer and buffer
            assert "layer " in str(exc) and "buffer" in str(exc)
            continue
        assert result.totals["cycles"] > 0 and result.totals["utilisation"] <= 1


def unstructured_trace(tmp_path, per_channel: list[int], name: str) -> Workload:
    """A 1x1 convolution (256 -> 64) whose output channel k keeps per_channel[k] of its 256 weights."""
    from sparseloom.workloads.masks import masks_bytes
    from sparseloom.workloads.trace import write_workload

    mask = np.zeros((64, 256, 1, 1), bool)
    rng = np.random.default_rng(0)
    for k, keep in enumerate(per_channel):
        mask[k, rng.choice(256, keep, replace=False), 0, 0] = True
    meta = WorkloadMeta(name, "conv", "none", [256, 14, 14], 4, "inference", Sparsity("unstructured", "dense"),
                        Provenance("seeded", "test", 0))
    workload = Workload(meta, [Layer("conv", "conv", 256, 64, H=14, W=14, input_grad=0)])
    return load_workload(write_workload(workload, tmp_path / name, masks_bytes({("conv", "fwd"): mask})))


def test_unstructured_imbalance_costs_cycles(tmp_path):
    csr = replace(S4, sparsity=replace(S4.sparsity, unstructured_format="csr"))
    balanced = unstructured_trace(tmp_path, [32] * 64, "balanced")                # 1/8 dense everywhere
    skewed = unstructured_trace(tmp_path, [64 if k % 2 else 0 for k in range(64)], "skewed")  # same density
    fast, slow = simulate(csr, balanced), simulate(csr, skewed)
    assert fast.totals["useful_macs"] == slow.totals["useful_macs"] == 4 * 14 * 14 * 64 * 32
    row_fast, row_slow = fast.rows.iloc[0], slow.rows.iloc[0]
    assert (row_fast.pattern, row_fast.k_eff, row_slow.k_eff) == ("unstructured", 32, 64)  # the fullest column paces a tile
    assert slow.totals["cycles"] > fast.totals["cycles"]
    dense_run = simulate(S4, balanced)                                               # no unstructured format: dense
    assert dense_run.rows.iloc[0].k_eff == 256 and any("unstructured weights run dense" in n for n in dense_run.notes)
    # metadata: CSR 8-bit indices per kept weight, a bitmap 1 bit per position; at 1/4 density the bitmap is smaller
    quarter = unstructured_trace(tmp_path, [64] * 64, "quarter")
    with_csr = simulate(csr, quarter).totals["dram_bytes"]
    with_bitmap = simulate(replace(S4, sparsity=replace(S4.sparsity, unstructured_format="bitmap")), quarter).totals["dram_bytes"]
    assert with_csr - with_bitmap == 64 * 64 * (1 + 1) - (64 * 64 + 256 * 64 // 8)


def test_real_unstructured_masks_are_imbalanced():
    w = load_workload(ROOT / "workloads" / "minilm_unstructured_125")
    assert w.meta.sparsity.method == "unstructured" and len(w.masks()) == 36
    csr = replace(S4, sparsity=replace(S4.sparsity, unstructured_format="csr"))
    rows = simulate(csr, w).rows
    ff = rows[(rows.phase == "FF") & (rows.pattern == "unstructured")]
    assert len(ff) == 36
    assert ff.useful_macs.sum() == pytest.approx(0.125 * ff.dense_macs.sum(), rel=1e-3)
    assert ff.macs.sum() > 1.5 * ff.useful_macs.sum()        # the fullest column of each tile paces it


def test_block_format_skips_zero_tiles_only():
    """Same 1/8 density: in 64x64 blocks (whole weight tiles of the 64-row s4 array) or scattered."""
    from sparseloom.workloads.masks import masks_bytes
    from sparseloom.workloads.trace import write_workload

    def trace(tmp, mask, name):
        meta = WorkloadMeta(name, "conv", "none", [512, 14, 14], 4, "inference", Sparsity("unstructured", "dense"),
                            Provenance("seeded", "test", 0))
        w = Workload(meta, [Layer("conv", "conv", 512, 128, H=14, W=14, input_grad=0)])
        return load_workload(write_workload(w, tmp / name, masks_bytes({("conv", "fwd"): mask})))

    import tempfile
    from pathlib import Path

    blocked = np.zeros((128, 512, 1, 1), bool)
    blocked[:64, :64] = blocked[64:, 448:] = True             # one 64-row block per 64-column tile
    scattered = np.zeros_like(blocked)
    rng = np.random.default_rng(1)
    for k in range(128):
        scattered[k, rng.choice(512, 64, replace=False)] = True
    block = replace(S4, sparsity=replace(S4.sparsity, unstructured_format="block"))
    csr = replace(S4, sparsity=replace(S4.sparsity, unstructured_format="csr"))
    with tempfile.TemporaryDirectory() as tmp:
        b, s = trace(Path(tmp), blocked, "b"), trace(Path(tmp), scattered, "s")
        assert simulate(block, b).rows.iloc[0].k_eff == 64       # one of eight row blocks per tile
        assert simulate(block, s).rows.iloc[0].k_eff == 512      # no all-zero block: dense
        assert simulate(csr, s).rows.iloc[0].k_eff < 512
        assert simulate(block, b).totals["cycles"] < simulate(block, s).totals["cycles"]


def test_real_block_masks_on_a_block_skipping_array():
    w = load_workload(ROOT / "workloads" / "minilm_block32_125")
    block = replace(S4, sparsity=replace(S4.sparsity, unstructured_format="block"))
    rows = simulate(block, w).rows
    ff = rows[(rows.phase == "FF") & (rows.pattern == "unstructured")]
    assert ff.useful_macs.sum() == pytest.approx(0.125 * ff.dense_macs.sum(), rel=0.02)
    # 32x32 pruning blocks on 64-row tiles: some row blocks skipped, some zeros still multiplied
    assert (ff.k_eff < ff.k).all() and ff.macs.sum() > 2 * ff.useful_macs.sum()
