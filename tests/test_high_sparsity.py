"""High N:M ratios and the presets: starving for input bandwidth at 1:32, and every preset on
every committed workload."""
from __future__ import annotations

from dataclasses import replace

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
