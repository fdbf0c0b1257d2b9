"""The event engine's collapse of repeated instances and runs of identical steps: exactly what
stepping every step gives, and work that follows the distinct GEMMs, not their instances."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.core.errors import CapacityError
from sparseloom.sim import dram as dram_module
from sparseloom.sim.event import simulate_event
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta, load_workload

from .conftest import ROOT, SAT

BASE = load_arch(SAT)


def assert_same(collapsed, stepped):
    assert collapsed.gemms.equals(stepped.gemms)
    assert collapsed.side.equals(stepped.side)
    assert collapsed.totals == stepped.totals


@st.composite
def repeated_traces(draw):
    """Small traces whose GEMMs repeat (groups, repeat, per-sample matmuls, blocks) on archs whose
    memory ranges from never stalling to starved, with one or two slots per buffer and ports that
    keep up with the array or stretch its steps (narrow ports: 16 bits)."""
    n, m = draw(st.sampled_from([(2, 4), (2, 8), (1, 1)]))
    width = draw(st.sampled_from([16, 128]))
    buffers = [replace(b, size_kib=draw(st.sampled_from([2, 8, 64])), ports=draw(st.integers(1, 4)), width_bits=width,
                       double_buffered=draw(st.booleans())) for b in BASE.buffers]
    dram = replace(BASE.dram, channels=draw(st.integers(1, 4)),
                   channel_bandwidth_gbyte_s=draw(st.sampled_from([0.25, 2.0, 19.2])),
                   access_latency_ns=draw(st.sampled_from([0, 60])))
    options = replace(BASE.dataflow_options, interleave=draw(st.booleans()), pregenerate=draw(st.booleans()))
    arch = replace(BASE, buffers=buffers, dram=dram, dataflow_options=options)
    layers = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "linear", "matmul"]))
        r = draw(st.sampled_from([1, 3])) if kind == "conv" else 1
        pattern = NMPattern(n, m) if kind != "matmul" else NMPattern(1, 1)
        groups = draw(st.sampled_from([1, 2])) if kind == "conv" else 1
        layers.append(Layer(f"l{i}", kind, C=groups * m * draw(st.integers(1, 16)),
                            K=groups * m * draw(st.integers(1, 16)), R=r, S=r, pad=r // 2, H=draw(st.integers(r, 40)),
                            W=draw(st.integers(r, 12)) if kind == "conv" else 1, groups=groups,
                            repeat=draw(st.integers(1, 40)), fwd_nm=pattern, bwd_nm=pattern, input_grad=int(i > 0)))
    # blocks of the same layers in a row: stretches of the same steps in several GEMMs
    layers = [replace(layer, name=f"{layer.name}.{b}", input_grad=int(b > 0 or layer.input_grad))
              for b in range(draw(st.integers(1, 3))) for layer in layers]
    sparsity = Sparsity("bdwp", f"{n}:{m}") if m > 1 else Sparsity("dense", "dense")
    meta = WorkloadMeta("prop", "random", "none", [1, 1, 1], draw(st.integers(1, 12)),
                        draw(st.sampled_from(["training", "inference"])), sparsity, Provenance("none", "hypothesis"))
    return arch, Workload(meta, layers)


@given(repeated_traces())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_collapsed_equals_full_stepping(point):
    arch, workload = point
    try:
        collapsed = simulate_event(arch, workload)
    except CapacityError:
        assume(False)
    assert_same(collapsed, simulate_event(arch, workload, collapse=False))


@pytest.mark.parametrize("trace", ["resnet9_2of8", "deit_small_2of8", "minilm_2of4"])
@pytest.mark.parametrize("memory", [{}, {"channel_bandwidth_gbyte_s": 0.5}, {"channels": 1, "access_latency_ns": 0}])
def test_committed_traces_collapse_exactly(trace, memory):
    """With vector jobs and side engines sharing the channels."""
    arch = replace(BASE, dram=replace(BASE.dram, **memory))
    w = load_workload(ROOT / "workloads" / trace)
    assert_same(simulate_event(arch, w), simulate_event(arch, w, collapse=False))


def _transfers(monkeypatch, arch, workload, collapse: bool = True, writes: bool = False) -> int:
    """DRAM transfers the engine issues (``writes``: only its write-backs)."""
    calls = []
    transfer = dram_module.Dram.transfer

    def counted(self, now, nbytes, write=False):
        calls.append(write or not writes)
        return transfer(self, now, nbytes, write)

    monkeypatch.setattr(dram_module.Dram, "transfer", counted)
    simulate_event(arch, workload, collapse=collapse)
    monkeypatch.undo()
    return sum(calls)


def test_work_follows_distinct_gemms_not_instances(monkeypatch):
    """A matmul repeated per sample: 64 times the batch costs the collapsed engine a bounded
    number of extra DRAM transfers; stepping every instance costs 64 times as many."""
    meta = WorkloadMeta("mm", "mm", "none", [1, 1, 1], 8, "inference", Sparsity("dense", "dense"),
                        Provenance("none", "test"))
    small = Workload(meta, [Layer("attn", "matmul", 64, 64, H=64, repeat=6, input_grad=0)])
    large = small.with_batch(8 * 64)
    assert _transfers(monkeypatch, BASE, large, collapse=False) > 60 * _transfers(monkeypatch, BASE, small, False)
    assert _transfers(monkeypatch, BASE, large) < _transfers(monkeypatch, BASE, small) + 50


@pytest.mark.parametrize("kib, period", [(None, 1), (8, 2)])
def test_collapse_sets_in_one_period_after_the_lookback(monkeypatch, kib, period):
    """A matmul repeated ``n`` times, each instance ``period`` distinct steps (one on SAT; two,
    385 and 66 cycles, on 8 KiB buffers), its loads well inside a step's compute. The engine
    looks for a period at instance starts whose lookback (``lookback + 1`` steps back) lies in
    the iteration, so it checks first at step ``i0 <= lookback + period``; the state there repeats
    one period later, when it skips, stepping only what keeps the loader (at most ``in_slots``
    ahead) inside the GEMM: at most ``in_slots + period`` steps (with an incomplete period). So
    the array computes at most ``lookback + in_slots + 3 * period`` steps (7 and 10 on SAT's
    double buffers, each step one write-back besides the warm-up's), whatever ``n``, and all
    ``n * period`` for small ``n``, with the totals of stepping every instance."""
    arch = BASE if kib is None else replace(BASE, buffers=[replace(b, size_kib=kib) for b in BASE.buffers])
    assert all(b.double_buffered for b in arch.buffers)      # in_slots = out_slots = lookback = 2
    meta = WorkloadMeta("mm", "mm", "none", [1, 1, 1], 1, "inference", Sparsity("dense", "dense"),
                        Provenance("none", "test"))
    bound = 2 + 2 + 3 * period
    for n in range(1, 41):
        w = Workload(meta, [Layer("attn", "matmul", 64, 64, H=64, repeat=n, input_grad=0)])
        computed = _transfers(monkeypatch, arch, w, writes=True) - 1
        assert computed <= min(n * period, bound), n
        if n * period <= bound - 2 * period:     # shorter than a check, a period and the loader's steps
            assert computed == n * period
        if n in (1, 7, 40):
            assert_same(simulate_event(arch, w), simulate_event(arch, w, collapse=False))


@pytest.mark.parametrize("trace", ["resnet9_2of8", "deit_small_2of8"])
def test_steps_do_not_depend_on_how_many_are_evaluated_at_once(monkeypatch, trace):
    """Steps are evaluated in blocks and merged into runs of identical steps: blocks of 7 steps
    give the same runs as one block, and the runs add up to every GEMM's steps and its array cycles."""
    from sparseloom.sim import steps as steps_module
    from sparseloom.sim.results import prepare

    w = load_workload(ROOT / "workloads" / trace)
    p = prepare(BASE, w)
    g = p.schedule.gemms
    whole = steps_module.gemm_steps(g, p.cost.traffic, BASE)
    monkeypatch.setattr(steps_module, "BLOCK", 7)
    small = steps_module.gemm_steps(g, p.cost.traffic, BASE)
    for name in whole.__dataclass_fields__:
        assert (getattr(whole, name) == getattr(small, name)).all(), name
    assert len(whole) < whole.per_instance.sum()                 # some runs hold several steps
    per_gemm = np.bincount(whole.gemm, whole.repeat, minlength=len(g))
    assert (per_gemm == whole.per_instance).all()
    assert (whole.instance_compute * g.count == p.cost.timing.cycles * g.count).all()


@pytest.mark.parametrize("trace", ["deit_small_2of8", "llama2_7b_2of4_decode"])
def test_steps_of_alike_gemms_are_evaluated_once_and_are_each_gemms_own(trace):
    """GEMMs alike in everything but their layer (a transformer's blocks) are cut into steps once:
    every GEMM's runs are those of the GEMM cut alone."""
    from sparseloom.dataflow.flows import rows_of
    from sparseloom.sim import steps as steps_module
    from sparseloom.sim.results import prepare

    p = prepare(BASE, load_workload(ROOT / "workloads" / trace))
    g, traffic = p.schedule.gemms, p.cost.traffic
    whole = steps_module.gemm_steps(g, traffic, BASE)
    assert len(steps_module._distinct(g, traffic)[0]) < len(g) / 4
    for k in range(len(g)):
        alone = steps_module.gemm_steps(g.take(np.array([k])), rows_of(traffic, np.array([k])), BASE)
        runs = slice(whole.first[k], whole.first[k + 1])
        for name in ("compute", "load", "stream", "write", "start", "repeat", "done_before"):
            assert (getattr(alone, name) == getattr(whole, name)[runs]).all(), (k, name)
        for name in ("per_instance", "instance_compute", "port_scale", "steady"):
            assert getattr(alone, name)[0] == getattr(whole, name)[k], (k, name)


def test_port_bound_instances_collapse_exactly(monkeypatch):
    """Decode-like GEMMs (one token, weights streamed) on 16-bit ports: the ports stretch every
    step, by a number of cycles that the rounding of the GEMM's port cycles varies from step to
    step; instances collapse only over periods whose step cycles repeat, and equal full stepping."""
    narrow = replace(BASE, buffers=[replace(b, width_bits=16, ports=1) for b in BASE.buffers])
    meta = WorkloadMeta("decode", "decode", "none", [1, 1, 1], 1, "inference", Sparsity("bdwp", "2:4"),
                        Provenance("none", "test"))
    w = Workload(meta, [Layer("q", "linear", 256, 256, H=1, repeat=200, fwd_nm=NMPattern(2, 4), input_grad=0),
                        Layer("attn", "matmul", 64, 96, H=1, repeat=300, input_grad=0)])
    collapsed, stepped = simulate_event(narrow, w), simulate_event(narrow, w, collapse=False)
    assert collapsed.totals["stall_buffer"] > 0.5 * collapsed.totals["cycles"]
    assert_same(collapsed, stepped)
    assert _transfers(monkeypatch, narrow, w) < _transfers(monkeypatch, narrow, w, collapse=False) / 5
