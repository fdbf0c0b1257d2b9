"""The non-GEMM operators on the vector engine: bytes and lane cycles by hand, fusion, placement,
bandwidth, and that sparsity leaves them alone."""
from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.dataflow.ops import vector_jobs
from sparseloom.sim.simulate import simulate, speedup_over_dense
from sparseloom.workloads.ops import Op
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta, load_workload

from .conftest import RESNET50_2OF8, SAT

BASE = load_arch(SAT)


def with_vector(arch, **fields):
    return replace(arch, vector_engine=replace(arch.vector_engine, **fields))


def small(ops, mode="training", batch=2, nm="dense") -> Workload:
    """conv a (8 -> 16 channels, 3x3 on 8x8) then its operators, then conv b (16 -> 16)."""
    pattern = NMPattern.parse(nm)
    layers = [Layer("a", "conv", 8, 16, 3, 3, 1, 1, 8, 8, input_grad=0, fwd_nm=pattern),
              Layer("b", "conv", 16, 16, 3, 3, 1, 1, 8, 8, fwd_nm=pattern, bwd_nm=pattern)]
    meta = WorkloadMeta("small", "small", "none", [8, 8, 8], batch, mode, Sparsity("dense", nm), Provenance("none", "test"))
    return Workload(meta, layers, None, ops)


E = 16 * 8 * 8                      # elements of conv a's output per sample
BN_RELU = [Op("a.bn", "bn", "a", E, E, 16), Op("a.relu", "relu", "a", E, E)]


# an input buffer too small to keep a's output on chip (4 KiB, 2 KiB usable): every tensor in DRAM
OFF_CHIP = replace(BASE, buffers=[replace(b, size_kib=4) if "input" in b.holds else b for b in BASE.buffers])


def jobs(fusion, ops=BN_RELU, mode="training"):
    return {(j.phase, j.kinds): j for j in vector_jobs(small(ops, mode), with_vector(OFF_CHIP, fusion=fusion))}


def test_bytes_and_lane_cycles_by_hand_for_each_fusion_policy():
    x = 2 * E * 2                   # one FP16 tensor of the batch of 2: 4,096 bytes
    mask = 2 * E / 8                # ReLU's 1-bit mask: 256 bytes
    none = jobs("none")
    # BN forward: a statistics pass and an apply pass each read x; the apply pass writes y
    assert (none["FF", "bn"].read_bytes, none["FF", "bn"].write_bytes) == (2 * x, x)
    assert none["FF", "bn"].lane_cycles == 2 * (2 * E)
    assert (none["FF", "relu"].read_bytes, none["FF", "relu"].write_bytes) == (x, x + mask)
    # backward: ReLU reads dy and its mask; BN's two passes each read dy and x, the second writes dx
    assert (none["BP", "relu"].read_bytes, none["BP", "relu"].write_bytes) == (x + mask, x)
    assert (none["BP", "bn"].read_bytes, none["BP", "bn"].write_bytes) == (2 * (x + x), x)
    # BN+ReLU fused: ReLU rides on the apply pass (no re-read, no intermediate write) and backward
    # on both BN passes (each reads dy and the mask instead of ReLU's output gradient)
    fused = jobs("bn_relu")
    assert set(fused) == {("FF", "bn+relu"), ("BP", "bn+relu")}
    assert (fused["FF", "bn+relu"].read_bytes, fused["FF", "bn+relu"].write_bytes) == (2 * x, x + mask)
    assert fused["FF", "bn+relu"].lane_cycles == 2 * (2 * E)       # a lane streams through both stages
    assert (fused["BP", "bn+relu"].read_bytes, fused["BP", "bn+relu"].write_bytes) == (2 * (x + mask + x), x)
    # in the array's output path the statistics pass reads the GEMM's output as it leaves the array
    out = jobs("array_output")
    assert out["FF", "bn+relu"].read_bytes == x and out["FF", "bn+relu"].epilogue_cycles == 2 * E
    assert out["BP", "bn+relu"].read_bytes == fused["BP", "bn+relu"].read_bytes   # backward has no output path


def test_inference_batch_norm_is_one_affine_pass_and_relu_keeps_no_mask():
    x = 2 * E * 2
    none = jobs("none", mode="inference")
    assert set(none) == {("FF", "bn"), ("FF", "relu")}
    assert (none["FF", "bn"].read_bytes, none["FF", "bn"].write_bytes) == (x, x)
    assert none["FF", "relu"].write_bytes == x


def test_fused_residual_add_and_attention_scale():
    x = 2 * E * 2
    ops = [Op("a.bn", "bn", "a", E, E, 16), Op("a.add", "add", "a", E, E), Op("a.relu", "relu", "a", E, E)]
    ff, bp = jobs("bn_relu", ops)["FF", "bn+add+relu"], jobs("bn_relu", ops)["BP", "bn+add+relu"]
    assert (ff.read_bytes, ff.write_bytes) == (2 * x + x, x + 2 * E / 8)        # plus the shortcut's tensor
    # backward: the gradient at the add forks to the shortcut, so it is written beside BN's dx
    assert (bp.read_bytes, bp.write_bytes) == (2 * (x + 2 * E / 8 + x + x), x + x)
    attention = [Op("a.scale", "scale", "a", E, E), Op("a.softmax", "softmax", "a", E, E, 16)]
    ff = jobs("bn_relu", attention)["FF", "scale+softmax"]
    assert (ff.read_bytes, ff.write_bytes) == (x, x)                            # scaled on the way in
    assert ff.lane_cycles == 2 * E * BASE.vector_engine.cycles_per_element.transcendental


def test_a_memory_bound_batch_norm_takes_half_the_cycles_at_twice_the_bandwidth():
    big = small([Op("a.bn", "bn", "a", E, E, 16)], batch=4096)
    arch = with_vector(BASE, lanes=1 << 20)           # lanes to spare: DRAM bounds it
    four = simulate(arch, big).side
    eight = simulate(replace(arch, dram=replace(arch.dram, channels=8)), big).side
    launch = BASE.control.job_launch_cycles
    for phase in ("FF", "BP"):
        c4 = int(four[(four.engine == "vector") & (four.phase == phase)].cycles.iloc[0]) - launch
        c8 = int(eight[(eight.engine == "vector") & (eight.phase == phase)].cycles.iloc[0]) - launch
        assert c4 > 1000 and abs(c4 - 2 * c8) <= 1


def test_the_array_waits_for_forward_jobs_and_backward_jobs_overlap_the_next_weight_gradient():
    w = small(BN_RELU, batch=64)
    r = simulate(BASE, w)
    g = r.gemms.set_index(["name", "phase"])
    vec = r.side[r.side.engine == "vector"].set_index("phase")
    ff_job, bp_job = int(vec.loc["FF"].cycles), int(vec.loc["BP"].cycles)
    # b's forward GEMM waits out the whole forward job (and pays a barrier)
    assert g.loc[("b", "FF")].stall_vector == ff_job
    assert g.loc[("b", "FF")].stall_control == BASE.control.job_launch_cycles + BASE.control.barrier_cycles
    # the backward job starts when b's BP ends and runs beside b's WU; a's WU waits for the rest
    expected = max(0, bp_job - int(g.loc[("b", "WU")].cycles - g.loc[("b", "WU")].stall_control))
    assert g.loc[("a", "WU")].stall_vector == expected
    assert r.totals["stall_vector"] == ff_job + expected
    assert r.totals["cycles"] == r.totals["gemm_cycles"] + r.totals["non_gemm_cycles"]


def test_non_gemm_time_is_the_same_dense_and_sparse():
    w = load_workload(RESNET50_2OF8)
    sparse, dense = simulate(BASE, w), simulate(BASE, w.densified())
    columns = ["name", "phase", "cycles", "busy", "dram_read_bytes", "dram_write_bytes", "energy_side_pj"]
    s, d = (r.side[r.side.engine == "vector"][columns].reset_index(drop=True) for r in (sparse, dense))
    assert len(s) > 100 and s.equals(d)
    assert sparse.totals["stall_vector"] == dense.totals["stall_vector"]
    bounds = speedup_over_dense(BASE, w, sparse, dense)
    assert bounds["speedup"] <= bounds["iteration_ideal_speedup"] < bounds["ideal_speedup"]
    assert not bounds["above_ideal"]


def test_a_trace_without_operators_says_so():
    r = simulate(BASE, small([]))
    assert not (r.side.engine == "vector").any() and r.totals["non_gemm_cycles"] < 10_000
    assert any("no non-GEMM operators" in note for note in r.notes)


@settings(max_examples=80, deadline=None)
@given(fusion=st.sampled_from(["none", "bn_relu", "array_output"]), lanes=st.sampled_from([1, 16, 128, 4096]),
       gbyte_s=st.sampled_from([0.5, 4.0, 19.2]), batch=st.integers(1, 64),
       mode=st.sampled_from(["training", "inference"]))
def test_event_never_faster_than_analytic_with_operators(fusion, lanes, gbyte_s, batch, mode):
    arch = with_vector(replace(BASE, dram=replace(BASE.dram, channel_bandwidth_gbyte_s=gbyte_s)), fusion=fusion, lanes=lanes)
    ops = BN_RELU + [Op("b.bn", "bn", "b", E, E, 16), Op("b.pool", "avgpool", "b", E, 16), Op("b.loss", "loss", "b", 16, 1)]
    w = small(ops, mode, batch)
    analytic, event = simulate(arch, w, "analytic"), simulate(arch, w, "event")
    assert event.totals["cycles"] >= analytic.totals["cycles"]
    assert analytic.totals["cycles"] >= analytic.totals["gemm_cycles"]
    assert event.totals["vector_busy_cycles"] >= analytic.totals["vector_busy_cycles"]


def depthwise(batch=8, groups=64) -> Workload:
    layers = [Layer("pw", "conv", 64, 64, input_grad=0, H=56, W=56),
              Layer("dw", "conv", groups, groups, 3, 3, 1, 1, 56, 56, groups=groups)]
    meta = WorkloadMeta("dw", "dw", "none", [64, 56, 56], batch, "training", Sparsity("dense", "dense"),
                        Provenance("none", "test"))
    return Workload(meta, layers, None, [Op("dw.bn", "bn", "dw", groups * 56 * 56, groups * 56 * 56, groups)])


def test_lane_timing_by_hand():
    from sparseloom.dataflow.flows import FLOWS, Machine, Shape

    machine, lanes = Machine.of(BASE), BASE.vector_engine.lanes            # 128 lanes, adder latency 4
    t = FLOWS["vector_lanes"].timing(machine, Shape.of([8 * 56 * 56, 1], [1, 9], [9, 8 * 56 * 56]))
    # forward: 25,088 outputs of 9 MACs over 128 lanes; 4 partial sums per lane, a 2-level tree
    assert t.busy[0] == -(-8 * 56 * 56 * 9 // lanes) and t.cycles[0] == t.busy[0] + 4 + 4 * 2
    # a depthwise weight gradient: 9 outputs of 25,088 MACs, each split over 14 lanes of 4 sums
    assert t.busy[1] == -(-9 * 8 * 56 * 56 // lanes) and t.cycles[1] == t.busy[1] + 4 + 4 * 6   # log2(56) -> 6


def test_depthwise_runs_on_the_lanes_and_holds_them():
    w = depthwise()
    r = simulate(BASE, w)
    g = r.gemms.set_index(["name", "phase"])
    assert {g.loc[("dw", p)].dataflow for p in ("FF", "BP", "WU")} == {"vector_lanes"}
    assert g.loc[("dw", "FF")].engine == "vector" and g.loc[("pw", "FF")].dataflow != "vector_lanes"
    off = simulate(with_vector(BASE, runs_gemms=False), w)
    assert "vector_lanes" not in set(off.gemms.dataflow)
    assert off.gemms.set_index(["name", "phase"]).loc[("dw", "FF")].cycles > 5 * g.loc[("dw", "FF")].cycles
    # the lanes do one thing at a time: dw's backward GEMMs wait for the BN backward job they follow
    bp_job = r.side[(r.side.engine == "vector") & (r.side.phase == "BP")]
    assert g.loc[("dw", "BP")].stall_vector >= int(bp_job.cycles.iloc[0]) - BASE.control.barrier_cycles
    for gbyte_s in (0.5, 19.2):
        arch = replace(BASE, dram=replace(BASE.dram, channel_bandwidth_gbyte_s=gbyte_s))
        assert simulate(arch, w, "event").totals["cycles"] >= simulate(arch, w, "analytic").totals["cycles"]


def test_activations_stay_on_chip_when_they_fit():
    x = 2 * E * 2                                     # a's output for the batch of 2, FP16
    for mode in ("inference", "training"):
        r = simulate(with_vector(BASE, fusion="bn_relu"), small(BN_RELU, mode))
        g = r.gemms.set_index(["name", "phase"])
        job = r.side[(r.side.engine == "vector") & (r.side.phase == "FF")].iloc[0]
        input_bytes = 2 * 8 * 8 * 8 * 2               # a reads its own input from DRAM
        assert g.loc[("a", "FF")].dram_read_bytes == input_bytes + 16 * 8 * 9 * 2
        assert g.loc[("b", "FF")].dram_read_bytes == 16 * 16 * 9 * 2          # weights only: A is on chip
        assert job.dram_read_bytes == 0                                        # both BN passes read the buffer
        if mode == "inference":   # nothing of the chain goes to DRAM
            assert g.loc[("a", "FF")].dram_write_bytes == 0 and job.dram_write_bytes == 0
            # a's write, the one affine BN pass's read and the fused ReLU's write, b's read
            assert r.totals["onchip_saved_bytes"] == x + x + x + x
        else:                     # the forward pass stashes them for the backward pass
            assert g.loc[("a", "FF")].dram_write_bytes == x and job.dram_write_bytes == x + 2 * E / 8
            assert r.totals["onchip_saved_bytes"] == 2 * x + x                # BN's two reads, b's read
    # not when the tensor does not fit the input buffer's usable half
    r = simulate(OFF_CHIP, small(BN_RELU, "inference"))
    assert r.totals["onchip_saved_bytes"] == 0 and r.gemms.dram_write_bytes.iloc[0] > 0


def test_a_residual_branch_is_not_taken_for_the_next_layer():
    from sparseloom.dataflow.residency import resident_outputs

    w = load_workload(RESNET50_2OF8)
    big = replace(BASE, buffers=[replace(b, size_kib=1 << 20) for b in BASE.buffers])
    resident = dict(zip((layer.name for layer in w.layers), resident_outputs(w, big)))
    assert resident["layer1.0.conv1"] and resident["layer1.0.conv2"]
    assert not resident["layer1.0.conv3"]             # the downsample reads the block's input, not conv3's output
    assert resident["layer1.0.downsample"]            # the block's sum feeds layer1.1.conv1


def test_the_placed_jobs_read_the_residency_of_the_schedules_gemms():
    """place_jobs takes a layer's residency from the next forward GEMM's on-chip input; it must
    be :func:`resident_outputs`' (which vector_jobs works out on its own), in training and inference."""
    from sparseloom.dataflow.ops import place_jobs
    from sparseloom.dataflow.residency import resident_outputs
    from sparseloom.dataflow.schedule import make_schedule
    from sparseloom.sim.cost import CandidateCost

    big = replace(BASE, buffers=[replace(b, size_kib=1 << 20) for b in BASE.buffers])
    training = load_workload(RESNET50_2OF8)
    for w in (training, replace(training, meta=replace(training.meta, mode="inference"))):
        for arch in (BASE, big):
            assert resident_outputs(w, arch).sum() >= 5         # several layers keep their output on chip
            s = make_schedule(w, arch, partial(CandidateCost, arch))
            assert place_jobs(w, arch, s.gemms, s.order).jobs == vector_jobs(w, arch)


def test_adamw_moves_both_moments_and_an_arch_without_it_says_so():
    w = small([], batch=4)
    sgd = simulate(BASE, w).side.set_index(["name", "phase"]).loc[("b", "UPDATE")]
    adamw_trace = replace(w, meta=replace(w.meta, optimizer="adamw"))
    adam = simulate(BASE, adamw_trace).side.set_index(["name", "phase"]).loc[("b", "UPDATE")]
    weights, fp32 = 16 * 16 * 9, 4
    assert sgd.dram_read_bytes == 3 * weights * fp32 and adam.dram_read_bytes == 4 * weights * fp32   # w, m, (v,) g
    assert adam.dram_write_bytes - sgd.dram_write_bytes == weights * fp32                              # v
    assert adam.busy == -(-weights * BASE.weight_update.adamw_cycles_per_element // BASE.weight_update.lanes)
    none = replace(BASE, weight_update=replace(BASE.weight_update, adamw_cycles_per_element=None))
    with pytest.raises(ValueError, match="optimizer: small trains with adamw.*adamw_cycles_per_element"):
        simulate(none, adamw_trace)


def test_loss_pooling_and_leading_operators_by_hand():
    x, pooled = 2 * E * 2, 2 * 16 * 2
    ops = [Op("pre.scale", "scale", "", 8 * 8 * 8, 8 * 8 * 8), Op("a.pool", "maxpool", "a", E, 16),
           Op("b.loss", "loss", "b", E, 1)]
    j = jobs("none", ops)
    assert ("FF", "scale") in j and ("BP", "scale") not in j        # before the first GEMM: no gradient
    assert j["FF", "loss"].write_bytes == 2 * 4                     # one FP32 loss per sample
    assert j["BP", "loss"].write_bytes == x                         # dlogits
    # max-pool keeps a 1-byte argmax per output; its backward reads it with dy and scatters dx
    assert (j["FF", "maxpool"].read_bytes, j["FF", "maxpool"].write_bytes) == (x, pooled + 2 * 16)
    assert (j["BP", "maxpool"].read_bytes, j["BP", "maxpool"].write_bytes) == (pooled + 2 * 16, x)


def test_a_fused_pass_costs_its_slowest_stage():
    slow = replace(OFF_CHIP.vector_engine.cycles_per_element, elementwise=3)
    arch = with_vector(OFF_CHIP, fusion="bn_relu", cycles_per_element=slow)
    job = next(j for j in vector_jobs(small(BN_RELU), arch) if j.phase == "FF")
    assert job.lane_cycles == 2 * E * 1 + 2 * E * 3                  # statistics pass, then the ReLU-bound apply pass


def test_an_output_path_slower_than_the_array_holds_it_up():
    arch = with_vector(OFF_CHIP, fusion="array_output", lanes=1)
    r = simulate(arch, small(BN_RELU))
    a = r.gemms.set_index(["name", "phase"]).loc[("a", "FF")]
    array = int(a.busy + a.stall_fill_drain + a.stall_acc_hazard)
    job = next(j for j in vector_jobs(small(BN_RELU), arch) if j.phase == "FF")
    row = r.side[(r.side.engine == "vector") & (r.side.phase == "FF")].iloc[0]
    assert job.epilogue_cycles > array
    assert row.busy == (job.lane_cycles - job.epilogue_cycles) + (job.epilogue_cycles - array)


def test_llm_operators_by_hand():
    x = 2 * E * 2
    ops = [Op("a.rmsnorm", "rmsnorm", "a", E, E, 16), Op("a.silu", "silu", "a", E, E), Op("a.mul", "mul", "a", E, E)]
    j = jobs("none", ops)
    assert (j["FF", "rmsnorm"].read_bytes, j["FF", "rmsnorm"].write_bytes) == (x, x)       # the row stays on chip
    assert (j["FF", "mul"].read_bytes, j["FF", "mul"].write_bytes) == (2 * x, x)
    assert (j["BP", "mul"].read_bytes, j["BP", "mul"].write_bytes) == (3 * x, 2 * x)       # dy, x, x2; dx, dx2
    assert (j["BP", "silu"].read_bytes, j["BP", "silu"].write_bytes) == (2 * x, x)


@pytest.mark.parametrize("gemms", [2, 3])
def test_dram_stalls_hide_in_the_waits_beside_them_and_the_first_gemm_in_the_prefetch_by_hand(gemms):
    """No vector jobs: every GEMM waits only its launch (100 cycles on SAT). The first GEMM's DRAM
    stall of 1,000 cycles hides in the launch before it, the launch after it (the next GEMM loads
    only then) and the prefetch (the previous iteration's last GEMM leaves 30 DRAM cycles idle);
    the vector tail is 0. A later GEMM without a stall hides nothing; for an odd and an even count."""
    import numpy as np

    from sparseloom.sim.records import Table
    from sparseloom.sim.vector import Placement, list_schedule

    none = Placement([], Table({"cycles": np.zeros(0, np.int64)}), np.zeros(0, np.int64), np.zeros(0, np.int64))
    stall = np.zeros(gemms, np.int64)
    stall[0] = 1000
    launch = BASE.control.job_launch_cycles
    waits, control, hidden, tail = list_schedule(none, np.arange(gemms), np.full(gemms, 5000), BASE,
                                                 np.zeros(gemms, np.int64), stall, prefetch=30)
    assert launch == 100 and tail == 0 and waits.tolist() == [0] * gemms and control.tolist() == [launch] * gemms
    assert hidden.tolist() == [2 * launch + 30] + [0] * (gemms - 1)
