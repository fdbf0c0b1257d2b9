"""Training GEMMs derived from layer tables: shapes, MAC counts, compression, execution patterns."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.dataflow.gemms import build_gemms, execution_pattern
from sparseloom.workloads.build import make_trace
from sparseloom.workloads.trace import load_workload

from .conftest import DENSE, RESNET50_2OF8, ROOT, SAT

R50_FF_MACS = 4_089_184_256


def _macs(g, phase, column="k"):
    rows = g.phase == phase
    return int((g.m * g.n * getattr(g, column) * g.count)[rows].sum())


def test_resnet50_phases_at_batch_1():
    w = load_workload(RESNET50_2OF8).with_batch(1)
    g = build_gemms(w, load_arch(SAT))
    assert _macs(g, "FF") == R50_FF_MACS
    assert _macs(g, "WU") == R50_FF_MACS
    stem = 64 * 3 * 49 * 112 * 112
    assert _macs(g, "BP") == R50_FF_MACS - stem                  # the first layer has no BP GEMM
    assert not ((g.layer == 0) & (g.phase == "BP")).any()
    assert ((g.phase == "FF").sum(), (g.phase == "BP").sum(), (g.phase == "WU").sum()) == (54, 53, 54)


def test_batch_scales_every_phase():
    w = load_workload(RESNET50_2OF8)
    g1, g32 = build_gemms(w.with_batch(1), load_arch(SAT)), build_gemms(w, load_arch(SAT))
    for phase in ("FF", "BP", "WU"):
        assert _macs(g32, phase) == 32 * _macs(g1, phase)


def test_compression_along_the_reduction_axis():
    w = load_workload(RESNET50_2OF8).with_batch(1)
    g = build_gemms(w, load_arch(SAT))
    names = np.array([w.layers[i].name for i in g.layer])
    ff = (names == "layer1.0.conv2") & (g.phase == "FF")
    bp = (names == "layer1.0.conv2") & (g.phase == "BP")
    assert (g.k[ff], g.k_eff[ff]) == (576, 144)       # 64 ch x 3x3, 2 of every 8 channels
    assert (g.k[bp], g.k_eff[bp]) == (64, 16)         # 64 output channels, 2 of every 8
    assert _macs(g, "FF", "k_eff") <= _macs(g, "FF") * 2 / 8 + 64 * 3 * 49 * 112 * 112 * 6 / 8


def test_execution_patterns():
    sat, dense = load_arch(SAT), load_arch(DENSE)
    assert execution_pattern(sat, NMPattern(2, 8)) == NMPattern(2, 8)
    assert execution_pattern(sat, NMPattern(1, 8)) == NMPattern(1, 8)
    assert execution_pattern(dense, NMPattern(2, 8)).dense
    only_2of4 = replace(sat, sparsity=replace(sat.sparsity, nm_patterns=["dense", "2:4"]))
    assert execution_pattern(only_2of4, NMPattern(2, 8)) == NMPattern(2, 4)   # a 2:8 tensor is 2:4-sparse
    assert execution_pattern(only_2of4, NMPattern(1, 8)) == NMPattern(2, 4)
    # a 1:3 tensor is 2:4-sparse too: an aligned 4-window overlaps at most two 3-groups
    assert execution_pattern(only_2of4, NMPattern(1, 3)) == NMPattern(2, 4)
    assert execution_pattern(replace(sat, sparsity=replace(sat.sparsity, nm_patterns=["dense", "1:4"])),
                             NMPattern(1, 3)).dense


def test_attention_matmuls_are_per_sample():
    w, _ = make_trace("t", "deit_small", "bdwp", "2:8", 4)
    g = build_gemms(w, load_arch(SAT))
    qk = [i for i, layer in enumerate(w.layers) if layer.name == "blocks.0.attn_qk"][0]
    ff = (g.layer == qk) & (g.phase == "FF")
    assert (g.m[ff][0], g.n[ff][0], g.k[ff][0], g.count[ff][0]) == (197, 197, 64, 6 * 4)
    assert g.b_compressed[ff][0] == 0


def test_all_committed_traces_build():
    for folder in sorted((ROOT / "workloads").iterdir()):
        if (folder / "layers.csv").exists():
            g = build_gemms(load_workload(folder), load_arch(SAT))
            assert len(g) and (g.k_eff <= g.k).all() and (g.k_useful <= g.k_eff).all()
