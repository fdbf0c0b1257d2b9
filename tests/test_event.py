"""The event fidelity against the analytic one, memory effects, side engines and the timeline."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta, load_workload

from .conftest import ROOT, SAT

BASE = load_arch(SAT)


def with_memory(arch, gbyte_s=None, latency_ns=None, ports=None, size_kib=None):
    dram = replace(arch.dram, channel_bandwidth_gbyte_s=gbyte_s or arch.dram.channel_bandwidth_gbyte_s,
                   access_latency_ns=arch.dram.access_latency_ns if latency_ns is None else latency_ns)
    buffers = [replace(b, ports=ports or b.ports, size_kib=size_kib or b.size_kib) for b in arch.buffers]
    return replace(arch, dram=dram, buffers=buffers)


def with_options(arch, **options):
    return replace(arch, dataflow_options=replace(arch.dataflow_options, **options))


UNLIMITED = with_memory(BASE, gbyte_s=1e9, latency_ns=0, ports=64)
UNLIMITED = replace(UNLIMITED, dram=replace(UNLIMITED.dram, refresh_cycle_ns=0, row_switch_ns=0, turnaround_ns=0))


def array_part(rows):
    return rows.busy + rows.stall_fill_drain + rows.stall_acc_hazard


@pytest.mark.parametrize("trace", ["resnet50_2of8", "vgg19_2of8", "resnet9_2of8"])
@pytest.mark.parametrize("options", [{}, {"interleave": False}, {"pregenerate": False}])
def test_agrees_with_analytic_when_memory_never_stalls(trace, options):
    arch = with_options(UNLIMITED, **options)
    w = load_workload(ROOT / "workloads" / trace)
    analytic, event = simulate(arch, w, "analytic"), simulate(arch, w, "event")
    assert (event.rows.cycles == analytic.rows.cycles).all()          # every layer, phase and side job
    assert (event.rows.stall_dram == 0).all() and (event.rows.stall_buffer == 0).all()
    # the totals differ only by the one-cycle write-back of the last weight gradient before its update
    assert 0 <= event.totals["cycles"] - analytic.totals["cycles"] <= 1


@pytest.mark.parametrize("gbyte_s", [19.2, 2.0, 0.5])
def test_less_bandwidth_only_adds_stalls(gbyte_s):
    arch = with_memory(BASE, gbyte_s=gbyte_s)
    w = load_workload(ROOT / "workloads" / "resnet50_2of8")
    analytic, event = simulate(arch, w, "analytic"), simulate(arch, w, "event")
    gemms = event.rows[event.rows.engine == "array"]
    core = array_part(gemms)
    assert (core == array_part(analytic.rows[analytic.rows.engine == "array"])).all()
    assert (gemms.cycles >= core).all()
    # every cycle beyond the tile timing has a cause
    assert (gemms.cycles - core == gemms.stall_dram + gemms.stall_buffer + gemms.stall_pruning
            + gemms.stall_vector + gemms.stall_control).all()
    assert event.totals["cycles"] >= analytic.totals["cycles"]
    assert event.totals["cycles"] >= event.totals["dram_bytes"] / arch.dram_bytes_per_cycle


def _fc_layer(batch: int) -> Workload:
    meta = WorkloadMeta("fc", "fc", "none", [4096, 1, 1], batch, "inference", Sparsity("dense", "dense"),
                        Provenance("none", "test"))
    return Workload(meta, [Layer("fc", "linear", 4096, 4096, input_grad=0)])


def test_halving_bandwidth_doubles_a_memory_bound_layer():
    # 32 MiB of FP16 weights for 4 x 16 M MACs. The array needs ~524 k cycles (a 32-cycle
    # preload per weight tile); at 4 x 1 GB/s the weights alone take 1.68 M cycles.
    w = _fc_layer(batch=4)
    full, half = with_memory(BASE, gbyte_s=1.0, latency_ns=0), with_memory(BASE, gbyte_s=0.5, latency_ns=0)
    fast, slow = simulate(full, w, "event"), simulate(half, w, "event")
    weight_cycles = 4096 * 4096 * 2 / full.dram_bytes_per_cycle
    # all but its first tile's share, loaded during the previous iteration's last step
    assert fast.totals["cycles"] >= 0.99 * weight_cycles
    assert fast.totals["stall_dram"] > 0.6 * fast.totals["cycles"]
    ratio = slow.totals["cycles"] / fast.totals["cycles"]
    assert 1.95 <= ratio <= 2.0                     # all but the output write-back doubles


def test_bigger_buffers_bring_dram_down_to_compulsory():
    w = load_workload(ROOT / "workloads" / "resnet50_2of8")
    small = simulate(BASE, w, "event")
    big = simulate(with_memory(BASE, size_kib=2 * 64 * 1024), w, "event")   # 128 MiB: every operand fits
    def gemm_bytes(r):
        return (r.gemms.dram_read_bytes + r.gemms.dram_write_bytes).sum()

    assert gemm_bytes(small) > 1.5 * small.gemms.compulsory_bytes.sum()
    assert big.totals["dram_bytes"] == pytest.approx(big.totals["compulsory_bytes"])
    # what big buffers keep on chip is no longer a DRAM operand, and accounted for exactly
    assert big.totals["onchip_saved_bytes"] > small.totals["onchip_saved_bytes"]
    assert big.totals["compulsory_bytes"] + big.totals["onchip_saved_bytes"] == pytest.approx(
        small.totals["compulsory_bytes"] + small.totals["onchip_saved_bytes"])


def test_single_buffers_serialise_loads():
    w = load_workload(ROOT / "workloads" / "resnet9_2of8")
    double = simulate(with_memory(BASE, gbyte_s=2.0), w, "event")
    single_arch = replace(with_memory(BASE, gbyte_s=2.0),
                          buffers=[replace(b, double_buffered=False) for b in BASE.buffers])
    single = simulate(single_arch, w, "event")
    assert single.totals["stall_dram"] > double.totals["stall_dram"]


def test_pruning_waits_without_pregeneration():
    w = load_workload(ROOT / "workloads" / "resnet50_2of8")
    on, off = simulate(BASE, w, "event"), simulate(with_options(BASE, pregenerate=False), w, "event")
    assert off.totals["cycles"] > on.totals["cycles"]
    ff = off.gemms[(off.gemms.phase == "FF") & (off.gemms.pattern != "dense")]
    assert (ff.stall_pruning > 0).all()
    assert on.rows.stall_pruning.sum() == 0


def test_event_runs_are_identical():
    w = load_workload(ROOT / "workloads" / "resnet9_2of8")
    a, b = simulate(BASE, w, "event"), simulate(BASE, w, "event")
    assert a.rows.equals(b.rows) and a.totals == b.totals


def test_timeline(tmp_path):
    w = load_workload(ROOT / "workloads" / "resnet9_2of8")
    path = tmp_path / "trace.json"
    result = simulate(BASE, w, "event", timeline=path)
    trace = json.loads(path.read_text())
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert {"PE array", "update engine", "pruning unit", "vector engine", "DRAM channel 0"} <= names
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert all(e["dur"] > 0 for e in spans)
    named = {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] == "M"}
    assert all((e["pid"], e["tid"]) in named for e in spans)       # every span sits on a named engine's track
    end_us = max(e["ts"] + e["dur"] for e in spans)
    assert end_us == pytest.approx(result.totals["time_ms"] * 1e3, rel=1e-6)
    array_tid = next(e["tid"] for e in trace["traceEvents"] if e["ph"] == "M" and e["args"]["name"] == "PE array")
    array_us = sum(e["dur"] for e in spans if e["tid"] == array_tid)
    computed = result.gemms
    waits = computed.stall_dram + computed.stall_pruning + computed.stall_vector + computed.stall_control
    assert array_us == pytest.approx((computed.cycles - waits).sum() / BASE.clock_mhz)
    png = path.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inference_trace_runs():
    w = load_workload(ROOT / "workloads" / "resnet50_2of8")
    inference = replace(w, meta=replace(w.meta, mode="inference"))
    r = simulate(BASE, inference, "event")
    assert set(r.rows.phase) == {"FF"} and r.totals["stall_update"] == 0
    assert NMPattern(2, 8) == NMPattern.parse(r.gemms.pattern.iloc[1])


def test_the_warm_up_writes_back_the_second_to_last_step_of_the_iteration():
    """The previous iteration's last step starts behind the write-back of the step before it. Runs
    are numbered GEMM after GEMM (``first``: each GEMM's first run, and one past the last); the
    step before the last is, by hand: an earlier step of the last run (it repeats), the previous
    instance's last step (one step per instance, several instances), the run before within the
    instance (several single steps), or the previous GEMM's last run (one step, one instance)."""
    from types import SimpleNamespace

    import numpy as np

    from sparseloom.sim.event import _run_before_last

    def before_last(runs_per_gemm, repeat, per_instance, count, order=(0, 1)):
        first = np.r_[0, np.cumsum(runs_per_gemm)]
        steps = SimpleNamespace(first=first, repeat=np.array(repeat), per_instance=np.array(per_instance))
        return _run_before_last(steps, SimpleNamespace(count=np.array(count)), list(order))

    # GEMM 0: runs 0-1; GEMM 1 (last): runs 2-4
    assert before_last([2, 3], [1, 1, 1, 1, 4], [2, 6], [1, 1]) == 4       # the last run repeats
    assert before_last([2, 3], [1, 1, 1, 1, 1], [2, 3], [1, 1]) == 3       # single steps: the run before
    assert before_last([2, 1], [1, 1, 1], [2, 1], [1, 5]) == 2             # one step, five instances
    assert before_last([2, 1], [1, 1, 1], [2, 1], [1, 1]) == 1             # one step, once: GEMM 0's last run
    assert before_last([1], [1], [1], [1], order=(0,)) == 0                # a lone one-step GEMM: itself
