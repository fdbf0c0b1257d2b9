"""The model core against numbers worked out by hand on small cases (issue 19, part 5): traffic
and energy of each dataflow, partial-sum read-back, single vs double buffered slots, the
output-stationary adder wait with fewer tiles than its latency, the weight-stationary hazard
without interleave, DRAM time per byte, access latency and channel parallelism (analytic and
event), the side engines' traffic and backlog, and the activation-skipping distribution.

Each expected number is derived in the comment beside it from the arch's parameters, not read
back from the model. These tests are what ``benchmarks/mutation/score.py`` runs beside the
others."""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.dataflow.gemms import build_gemms
from sparseloom.sim.cost import CandidateCost, gemm_cost, streamed_reduction
from sparseloom.sim.dram import Dram, channel_cycles_per_byte, dram_cycles
from sparseloom.sim.results import prepare
from sparseloom.sim.simulate import simulate
from sparseloom.sim.timing import array_cycles
from sparseloom.workloads.layer import Layer
from sparseloom.workloads.trace import Provenance, Sparsity, Workload, WorkloadMeta
from sparseloom.workloads.ops import Op

from .conftest import SAT

SAT_ARCH = load_arch(SAT)


def tweak(obj, **changes):
    """A frozen dataclass with nested fields replaced: ``tweak(arch, array__rows=4)``."""
    for path, value in changes.items():
        head, _, rest = path.partition("__")
        obj = replace(obj, **{head: tweak(getattr(obj, head), **{rest: value}) if rest else value})
    return obj


def buffers(arch, **changes):
    """The arch with buffer fields changed: ``buffers(arch, weight_buffer={"size_kib": 4})``."""
    return replace(arch, buffers=[replace(b, **changes.get(b.name, {})) for b in arch.buffers])


def workload(*layers, mode="inference", batch=1, optimizer="sgd_momentum") -> Workload:
    meta = WorkloadMeta("hand", "hand", "none", [1], batch, mode, Sparsity("bdwp", "2:8"),
                        Provenance("none", "a test"), optimizer=optimizer)
    return Workload(meta, list(layers))


LINEAR = Layer("fc", "linear", C=64, K=64, H=16)         # one GEMM: m = 16 tokens, n = 64, k = 64
QUIET = dict(control__job_launch_cycles=0, control__barrier_cycles=0)


def ff_gemm(arch, layer=LINEAR, flow="weight_stationary", chunk=16, n_outer=False, interleave=False):
    g = build_gemms(workload(layer), arch)
    g = g.mapped(np.array([flow]), np.array([chunk]), np.array([n_outer]), np.array([interleave]))
    return replace(g, a_onchip=np.zeros(1, bool), c_onchip=np.zeros(1, bool))


def reads_writes(cost, name):
    return float(cost.traffic.buffer_read[name][0]), float(cost.traffic.buffer_write[name][0])


# --- traffic and energy of each dataflow on one 16 x 64 x 64 FP16 GEMM (SAT: 32 x 32, FP32 psums)

A, B, C_OUT = 16 * 64 * 2, 64 * 64 * 2, 16 * 64 * 2      # bytes of A, B and the FP16 output
PSUM = 16 * 64 * 4                                         # one k-tile's FP32 partial sums


def test_weight_stationary_traffic_and_energy_by_hand():
    cost = gemm_cost(ff_gemm(SAT_ARCH), SAT_ARCH)
    tr = cost.traffic
    # everything fits its buffer: each operand crosses DRAM once, the output is written once
    assert float(tr.dram_read[0]) == A + B and float(tr.dram_write[0]) == C_OUT
    # A streams once per column tile (n / 32 = 2), written into the input buffer once
    assert reads_writes(cost, "input_buffer") == (2 * A, A)
    # B: one chunk visits every weight tile once
    assert reads_writes(cost, "weight_buffer") == (B, B)
    # k / 32 = 2 k-tiles: both write FP32 partial sums, the second reads the first's back;
    # the FP16 output is read out once
    assert reads_writes(cost, "output_buffer") == (PSUM + C_OUT, 2 * PSUM)
    e = SAT_ARCH.energy
    assert float(cost.macs[0]) == 16 * 64 * 64
    assert float(cost.energy_compute_pj[0]) == pytest.approx(16 * 64 * 64 * e.mac_pj)
    reads, writes = 2 * A + B + PSUM + C_OUT, A + B + 2 * PSUM
    assert float(cost.energy_buffer_pj[0]) == pytest.approx(reads * e.buffer_read_pj_per_byte
                                                            + writes * e.buffer_write_pj_per_byte)
    assert float(cost.energy_dram_pj[0]) == pytest.approx((A + B + C_OUT) * e.dram_pj_per_byte)


def test_output_stationary_traffic_by_hand():
    cost = gemm_cost(ff_gemm(SAT_ARCH, flow="output_stationary", chunk=2), SAT_ARCH)
    assert float(cost.traffic.dram_read[0]) == A + B and float(cost.traffic.dram_write[0]) == C_OUT
    # 1 x 2 output tiles: A streams once per column tile, B once per row tile
    assert reads_writes(cost, "input_buffer") == (2 * A, A)
    assert reads_writes(cost, "weight_buffer") == (B, B)
    # the sums stay in the PEs: no read-back, one FP32 write of every output, one FP16 read out
    assert reads_writes(cost, "output_buffer") == (C_OUT, PSUM)


def test_input_stationary_traffic_by_hand():
    # IS keeps A (k x m) in the PEs and streams B's 64 columns: one chunk, 2 k-tiles, 1 m-tile
    cost = gemm_cost(ff_gemm(SAT_ARCH, flow="input_stationary", chunk=64), SAT_ARCH)
    assert float(cost.traffic.dram_read[0]) == A + B
    assert reads_writes(cost, "input_buffer") == (A, A)           # A preloaded once per chunk
    assert reads_writes(cost, "weight_buffer") == (B, B)          # B streamed once per m-tile
    assert reads_writes(cost, "output_buffer") == (PSUM + C_OUT, 2 * PSUM)
    # 64 tokens (2 m-tiles of 32) and a 4 KiB weight buffer holding half of B (8 KiB): columns of
    # B outermost reuse a chunk of B across both m-tiles if the chunk fits (16 columns: 2 KiB),
    # else B is walked per m-tile; rows of A outermost always walk B per m-tile
    arch = buffers(SAT_ARCH, weight_buffer={"size_kib": 4, "double_buffered": False})
    tall = Layer("fc", "linear", C=64, K=64, H=64)
    b_read = {(chunk, outer): float(gemm_cost(ff_gemm(arch, tall, "input_stationary", chunk, outer), arch).traffic.b_read[0])
              for chunk in (16, 64) for outer in (True, False)}
    assert b_read == {(16, True): B, (64, True): 2 * B, (16, False): 2 * B, (64, False): 2 * B}


def test_the_lanes_have_no_interleave_mapping():
    # the search tries interleave on and off on the array only; a GEMM on the vector lanes is
    # recorded without it (a saved schedule with interleave on would not load on an arch without it)
    from sparseloom.dataflow.search import search

    depthwise = Layer("dw", "conv", C=32, K=32, R=3, S=3, pad=1, H=8, W=8, groups=32)
    w = workload(depthwise, mode="training")
    g = build_gemms(w, SAT_ARCH)
    choice = search(g, SAT_ARCH, partial(CandidateCost, SAT_ARCH))
    lanes = choice.candidates.dataflow == "vector_lanes"
    assert lanes.any() and not choice.candidates.interleave[lanes].any()
    assert choice.candidates.interleave[~lanes].any() and not choice.candidates.interleave[~lanes].all()


def test_weight_refetch_single_vs_double_buffered_and_loop_order():
    # a 4 KiB weight buffer holds half of B (8 KiB); chunks of 4 rows of A: 4 chunks
    single = buffers(SAT_ARCH, weight_buffer={"size_kib": 4, "double_buffered": False})
    rows_outer = gemm_cost(ff_gemm(single, chunk=4), single).traffic
    assert float(rows_outer.b_read[0]) == 4 * B               # B walked again per chunk
    # columns of B outermost: one 32-column block of B (4 KiB) is reused by every chunk, and all
    # of A (2 KiB) fits the input buffer, so it is reused across the two blocks
    cols_outer = gemm_cost(ff_gemm(single, chunk=4, n_outer=True), single).traffic
    assert float(cols_outer.b_read[0]) == B and float(cols_outer.a_read[0]) == A
    # an input buffer of 1 KiB (single) holds half of A: A is walked again per block of B
    small_a = buffers(single, input_buffer={"size_kib": 1, "double_buffered": False})
    assert float(gemm_cost(ff_gemm(small_a, chunk=4, n_outer=True), small_a).traffic.a_read[0]) == 2 * A
    # double-buffered, only 2 KiB is usable: even the block does not fit, B is walked per chunk
    double = buffers(SAT_ARCH, weight_buffer={"size_kib": 4, "double_buffered": True})
    assert float(gemm_cost(ff_gemm(double, chunk=4, n_outer=True), double).traffic.b_read[0]) == 4 * B


# --- array timing ----------------------------------------------------------------------------

def test_output_stationary_interleave_with_fewer_tiles_than_the_adder_latency():
    # 32 x 64 outputs on 32 x 32: 2 tiles, k = 10, adder latency L = 4. Interleaved, a PE
    # alternates between its 2 accumulators, but a dependent add can issue only every 4 cycles:
    # (k - 1) * 4 + 2 issue cycles, not (k - 1) * 2 + 2. Skew 31 + 31, drain 2 tiles x 32 rows,
    # the last sum L - 1 after its issue.
    t = array_cycles(32, 32, "output_stationary", 32, 64, 10, 4, True, True, chunk=2)
    assert int(t.cycles) == 62 + (9 * 4 + 2) + 2 * 32 + 3
    assert int(t.busy) == 2 * 10 and int(t.acc_hazard) == (9 * 4 + 2) - 2 * 10
    # L = 2 = tiles: the PE issues every cycle, no adder wait
    t2 = array_cycles(32, 32, "output_stationary", 32, 64, 10, 2, True, True, chunk=2)
    assert int(t2.cycles) == 62 + (9 * 2 + 2) + 2 * 32 + 1 and int(t2.acc_hazard) == 0


def test_output_stationary_sequential_tiles_by_hand():
    # one 4 x 4 tile on a 4 x 4 array, k = 5, L = 3: skew 3 + 3, a dependent add every 3 cycles
    # (4 waits of 2), the last sum L - 1 later, 4 rows shifted out
    t = array_cycles(4, 4, "output_stationary", 4, 4, 5, 3, False, True)
    assert int(t.cycles) == 5 + 6 + 4 * 2 + 2 + 4 and int(t.acc_hazard) == 4 * 2


def test_weight_stationary_hazard_without_interleave():
    # 2 x 2 array, one column (n = 1), k = 4: two k-tiles of 2 rows, a 1-row stream (m = 1),
    # accumulator latency 8, double-buffered weights. Preload 2; tile 1 enters at 2; tile 2 adds
    # to tile 1's sums, so it enters L = 8 later (at 10) instead of after tile 1 drains (s + R +
    # xt - 2 = 2 cycles, at 4); its last sum is written s + xt + R - 2 + L = 10 cycles after.
    t = array_cycles(2, 2, "weight_stationary", 1, 1, 4, 8, False, True)
    assert int(t.cycles) == 10 + 10 and int(t.acc_hazard) == 10 - 4
    assert int(t.busy) == 2                                   # 2 tiles x 1 streamed vector
    # without the double buffer the second preload (2) follows tile 1's stream: 2 + 1 + 2 = 5 < 10
    t_single = array_cycles(2, 2, "weight_stationary", 1, 1, 4, 8, False, False)
    assert int(t_single.cycles) == 20
    # latency 1: no hazard; tile 2 enters when tile 1 has drained (4), ends 4 + 1 + 1 + 0 + 1
    t_fast = array_cycles(2, 2, "weight_stationary", 1, 1, 4, 1, False, True)
    assert int(t_fast.cycles) == 4 + 3 and int(t_fast.acc_hazard) == 0


# --- DRAM -------------------------------------------------------------------------------------

DRAM_ARCH = tweak(SAT_ARCH, clock_mhz=1000.0, dram__channel_bandwidth_gbyte_s=10.0, dram__refresh_cycle_ns=0.0,
                  dram__row_switch_ns=0.0, dram__turnaround_ns=0.0, dram__access_latency_ns=100.0,
                  dram__burst_bytes=64, dram__channels=4)


def test_dram_cycles_per_byte_by_hand():
    # 10 GB/s at 1 GHz: 10 B per cycle, 0.1 cycles per byte, reads and writes alike
    assert channel_cycles_per_byte(DRAM_ARCH) == pytest.approx((0.1, 0.1))
    d = tweak(DRAM_ARCH, dram__refresh_cycle_ns=350.0, dram__refresh_interval_ns=7000.0, dram__row_switch_ns=16.0,
              dram__row_bytes=8192, dram__turnaround_ns=8.0, dram__write_batch_bytes=2048)
    # refresh blocks 5% of the time: 0.1 / 0.95; a row switch of 16 cycles per 8 KiB row;
    # writes: 2 turnarounds of 8 cycles per 2 KiB batch
    read = 0.1 / 0.95 + 16 / 8192
    assert channel_cycles_per_byte(d) == pytest.approx((read, read + 16 / 2048))
    # all 4 channels share the bytes
    assert float(dram_cycles(d, 4000, 2000)) == pytest.approx((4000 * read + 2000 * (read + 16 / 2048)) / 4)


def test_event_dram_latency_and_channel_parallelism():
    dram = Dram(DRAM_ARCH)
    # one 64 B burst: 6.4 cycles on one channel (rounded up to 7), plus 100 ns = 100 cycles
    assert dram.transfer(0, 64) == 7 + 100
    # 8 bursts spread over the 4 channels that are free first: 2 bursts (12.8 -> 13) each;
    # the first channel is busy until 7, so its share starts there
    assert Dram(DRAM_ARCH).transfer(0, 512) == 13 + 100
    dram = Dram(DRAM_ARCH)
    dram.transfer(0, 64)                  # channel 0 busy until 7
    # 4 bursts, one per channel: channel 0's starts at 7 and ends at 14 (no placement ends sooner:
    # a second burst on a free channel would end at 14 too)
    assert dram.transfer(0, 4 * 64) == 14 + 100
    # a large transfer reaches, and never exceeds, 4 channels x 10 B per cycle
    for channels in (1, 2, 4):
        arch = tweak(DRAM_ARCH, dram__channels=channels)
        nbytes = 64 * 1000
        end = Dram(arch).transfer(0, nbytes) - 100
        assert nbytes / end <= channels * 10 + 1e-9
        assert nbytes / end >= channels * 10 * 0.99


def _dram_bound_rates():
    # one 1 x 1024 x 1024 GEMM (a decode step): 2 MiB of weights, 2 K MACs per column tile:
    # DRAM-bound; cycles ~ bytes / (channels x 10 B per cycle)
    layer = Layer("fc", "linear", C=1024, K=1024, H=1)
    for channels in (1, 4):
        arch = tweak(DRAM_ARCH, dram__channels=channels, dataflow_options__offline_schedule=False, **QUIET)
        for fidelity in ("analytic", "event"):
            t = simulate(arch, workload(layer), fidelity).totals
            yield fidelity, channels, t["dram_bytes"] / t["cycles"]


def test_a_dram_bound_layer_reaches_the_dram_bandwidth_in_both_fidelities():
    for fidelity, channels, rate in _dram_bound_rates():
        assert rate >= channels * 10 * 0.99, (fidelity, channels, rate)


def test_a_dram_bound_layer_never_exceeds_the_dram_bandwidth():
    for fidelity, channels, rate in _dram_bound_rates():
        assert rate <= channels * 10 + 1e-9, (fidelity, channels, rate)


def test_a_dram_bound_iteration_by_hand():
    # the 1 x 1024 x 1024 GEMM on one 10 B/cycle channel, one step: it reads 2 MiB of weights and
    # 2 KiB of input, writes 2 KiB: 2,101,248 B. Analytic: the last GEMM (this one) keeps DRAM busy
    # all its cycles, so the next iteration's first loads find no idle DRAM: ceil(2,101,248 / 10)
    layer = Layer("fc", "linear", C=1024, K=1024, H=1)
    arch = tweak(DRAM_ARCH, dram__channels=1, dataflow_options__offline_schedule=False, **QUIET)
    analytic, event = (simulate(arch, workload(layer), f).totals for f in ("analytic", "event"))
    assert analytic["dram_bytes"] == 2_101_248 and analytic["cycles"] == 210_125
    # event, 64 B bursts of 6.4 cycles, 100 cycles latency: the previous iteration's step starts
    # behind the write-back of the step before it (2,048 B: 32 bursts, 205 cycles), streams 2,097,150 B
    # (32,768 bursts: 209,716 cycles) and ends at 205 + 209,716 + 100 = 210,021; our first tile's
    # 2,050 B (33 bursts, 212 cycles) queue behind and arrive at 205 + 209,716 + 212 + 100 = 210,233;
    # our stream takes 209,716 + 100 and our write-back 205 + 100
    assert event["cycles"] == 210_233 + 209_816 + 305 - 210_021


@given(layers=st.lists(st.tuples(st.sampled_from([16, 64, 256]), st.sampled_from([16, 64, 256]),
                                 st.sampled_from([1, 4, 32])), min_size=1, max_size=3),
       channels=st.integers(1, 4), gbyte_s=st.sampled_from([0.5, 4.0, 19.2]), refresh_ns=st.sampled_from([0.0, 350.0]),
       mode=st.sampled_from(["inference", "training"]), with_ops=st.booleans())
@example(layers=[(64, 256, 4), (16, 64, 4)], channels=2, gbyte_s=0.5, refresh_ns=0.0, mode="training",
         with_ops=False)    # the event window held traffic run before it: 5.0009 B/cycle before the floor
@settings(max_examples=40, deadline=None)
def test_no_iteration_moves_more_than_the_dram_peak(layers, channels, gbyte_s, refresh_ns, mode, with_ops):
    # random chains of linear layers (C, K, tokens), with or without a BN + ReLU after each
    trace = [Layer(f"fc{i}", "linear", C=c, K=k, H=h) for i, (c, k, h) in enumerate(layers)]
    w = workload(*trace, mode=mode)
    if with_ops:
        w = replace(w, ops=[op for layer in trace for op in (Op(f"{layer.name}.bn", "bn", layer.name, layer.K * layer.H,
                                                                  layer.K * layer.H, layer.K),
                                                               Op(f"{layer.name}.relu", "relu", layer.name,
                                                                  layer.K * layer.H, layer.K * layer.H))])
    arch = tweak(SAT_ARCH, dram__channels=channels, dram__channel_bandwidth_gbyte_s=gbyte_s,
                 dram__refresh_cycle_ns=refresh_ns)
    peak = channels * gbyte_s * 1e3 / arch.clock_mhz          # bytes per cycle, all channels at peak
    for fidelity in ("analytic", "event"):
        t = simulate(arch, w, fidelity).totals
        assert t["dram_bytes"] <= peak * t["cycles"] * (1 + 1e-12), (fidelity, t["dram_bytes"] / t["cycles"], peak)


# --- side engines -----------------------------------------------------------------------------

def test_pruning_and_update_traffic_by_hand():
    # one 2:8 linear layer 64 -> 32, both directions pruned, SGD with momentum, FP32 master
    layer = Layer("fc", "linear", C=64, K=32, H=4, fwd_nm=NMPattern(2, 8), bwd_nm=NMPattern(2, 8))
    arch = tweak(SAT_ARCH, dataflow_options__pregenerate=False, pruning_unit__lanes=8,
                 pruning_unit__cycles_per_element=2, weight_update__lanes=16)
    w = workload(layer, mode="training")
    side = prepare(arch, w).side.frame().set_index("phase")
    elements = 64 * 32
    prune, update = side.loc["PRUNE"], side.loc["UPDATE"]
    # pruning: 2 copies x 2048 weights x 2 cycles / 8 lanes; it reads the FP32 master weights
    # (no pre-generation) and writes both copies, each 2 of 8 kept: values (FP16) + 3-bit indices
    # (ceil(log2 8): a kept value's position among 8)
    assert prune.busy == 2 * elements * 2 // 8
    assert prune.dram_read_bytes == elements * 4
    assert prune.dram_write_bytes == 2 * (elements // 4) * (2 + 3 / 8)
    # update: reads weight, momentum and gradient, writes weight and momentum (FP32 each); no
    # dense direction, so no FP16 working copy
    assert update.dram_read_bytes == 3 * elements * 4 and update.dram_write_bytes == 2 * elements * 4
    assert update.busy == elements * 1 // 16
    e = arch.energy
    for row in (prune, update):
        assert row.energy_dram_pj == pytest.approx((row.dram_read_bytes + row.dram_write_bytes) * e.dram_pj_per_byte)
    assert prune.energy_side_pj == pytest.approx(2 * elements * e.prune_pj_per_element)
    # pre-generation fuses pruning into the update: it reads no weights of its own
    pregen = prepare(tweak(arch, dataflow_options__pregenerate=True), w).side.frame().set_index("phase")
    assert pregen.loc["PRUNE"].dram_read_bytes == 0
    # AdamW: two moments read and written
    adam = prepare(tweak(arch, weight_update__adamw_cycles_per_element=4), workload(layer, mode="training",
                                                                                     optimizer="adamw"))
    row = adam.side.frame().set_index("phase").loc["UPDATE"]
    assert row.dram_read_bytes == 4 * elements * 4 and row.dram_write_bytes == 3 * elements * 4
    assert row.busy == elements * 4 // 16


def test_update_backlog_beyond_the_backward_pass_is_exposed():
    # an update engine of 1 lane at 10,000 cycles per weight cannot hide behind the backward GEMMs
    layers = [Layer("a", "linear", C=64, K=64, H=8), Layer("b", "linear", C=64, K=64, H=8)]
    arch = tweak(SAT_ARCH, weight_update__lanes=1, weight_update__cycles_per_element=10_000, **QUIET)
    w = workload(*layers, mode="training")
    p = prepare(arch, w)
    result = simulate(arch, w)
    side = p.side.frame()
    update = side[side.phase == "UPDATE"].set_index("layer").cycles
    backward = int(p.cost.cycles[p.schedule.gemms.phase != "FF"].sum())
    # layer 0's update gates the next iteration; layer 1's runs beside the backward GEMMs of layer 0
    # and the rest of its time is exposed
    assert update[1] > backward
    assert result.totals["stall_update"] == update[0] + (update[1] - backward)


# --- activation skipping ------------------------------------------------------------------------

def test_activation_skipping_lasts_as_long_as_the_fullest_row():
    # 32 rows of k = 1000 activations, half of them zero: the expected fullest row of 32
    # binomial(1000, 0.5) draws is ~532.6 (simulated); the model's normal bound takes
    # mean + sd sqrt(2 ln 32) = 541.6 -> 542, a little above, never below
    arch = tweak(SAT_ARCH, sparsity__activation_skipping=True)
    g = ff_gemm(arch, layer=Layer("fc", "linear", C=1000, K=64, H=64, act_density=0.5), flow="output_stationary")
    fullest = np.random.default_rng(0).binomial(1000, 0.5, size=(4000, 32)).max(axis=1).mean()
    k = int(streamed_reduction(g, arch)[0])
    assert k == 542 and fullest <= k <= fullest * 1.03
    # weight-stationary streams whole rows of A: it skips nothing; the OS array issues only nonzeros
    assert int(streamed_reduction(replace(g, dataflow=np.array(["weight_stationary"])), arch)[0]) == 1000
    cost = gemm_cost(g, arch)
    assert int(cost.macs[0]) == 64 * 64 * 1000 // 2
    assert int(gemm_cost(g, SAT_ARCH).macs[0]) == 64 * 64 * 1000


# --- totals and notes ---------------------------------------------------------------------------

def test_gemm_cycles_do_not_include_control_costs():
    # control (job launch, barriers) adds to the iteration, never to the GEMMs' own time
    w = workload(LINEAR, Layer("fc2", "linear", C=64, K=64, H=16))
    quiet = simulate(tweak(SAT_ARCH, **QUIET), w).totals
    busy = simulate(tweak(SAT_ARCH, control__job_launch_cycles=1000, control__barrier_cycles=500), w).totals
    assert busy["gemm_cycles"] == quiet["gemm_cycles"]
    assert busy["cycles"] > quiet["cycles"] and busy["stall_control"] >= 2 * 1000


def test_notes_name_pattern_substitutions_only():
    sparse = Layer("fc", "linear", C=64, K=64, H=16, fwd_nm=NMPattern(1, 16), bwd_nm=NMPattern(2, 8))
    notes = simulate(SAT_ARCH, workload(sparse)).notes         # SAT runs up to M = 8: 1:16 as 1:8
    assert [n for n in notes if "run as" in n] == [
        "1 GEMMs with 1:16 weights run as 1:8 (the array supports dense, 2:4, 1:4, 2:8, 1:8), e.g. fc FF"]
    native = Layer("fc", "linear", C=64, K=64, H=16, fwd_nm=NMPattern(2, 8), bwd_nm=NMPattern(2, 8))
    assert not [n for n in simulate(SAT_ARCH, workload(native)).notes if "run as" in n]
    assert math.isfinite(simulate(SAT_ARCH, workload(native)).totals["cycles"])


def test_a_buffer_port_bound_gemm_in_both_fidelities():
    # every buffer 1 bank x 1 port x 64 bits: 8 B per cycle. The FF GEMM's weight buffer takes B
    # in (8 KiB) and streams it to the array once (8 KiB): 2,048 cycles, more than its array time
    arch = replace(tweak(SAT_ARCH, dataflow_options__offline_schedule=False, **QUIET),
                   buffers=[replace(b, banks=1, ports=1, width_bits=64) for b in SAT_ARCH.buffers])
    from sparseloom.sim.columns import GEMM_STALLS

    for fidelity in ("analytic", "event"):
        g = simulate(arch, workload(LINEAR), fidelity).gemms
        assert list(g.cycles) == [2048], fidelity
        # the event engine times each step and books its causes apart: they must add up
        assert list(g.busy + sum(g[f"stall_{s}"] for s in GEMM_STALLS)) == [2048], fidelity
        assert int(g.stall_buffer.iloc[0]) == 2048 - int(g.busy.iloc[0] + g.stall_fill_drain.iloc[0]
                                                          + g.stall_acc_hazard.iloc[0]), fidelity


def test_area_model_picks_the_smallest_covering_multiplexer_of_the_largest_array():
    # the xcup int8 rows of explore/rtl_resources.csv (8 x 8 arrays, the largest synthesised), per
    # PE: WS dense 2052 LUT / 64, 4:1 2244 / 64, 8:1 3523 / 64; OS 8:1 5632 / 64
    from sparseloom.explore.area import area

    ws = tweak(SAT_ARCH, array__dataflows=["weight_stationary"], array__rows=16, array__cols=16,
               array__operand_dtype="int8", array__accumulator_dtype="int32")
    lut = {m: area(tweak(ws, sparsity__max_m=m, sparsity__nm_patterns=["dense"]))["lut"] for m in (1, 2, 4, 8, 16)}
    pes = 256
    assert lut[1] == round(2052 / 64 * pes)           # dense PEs
    assert lut[2] == lut[4] == round(2244 / 64 * pes)  # the 4:1 multiplexer covers M = 2 and 4
    assert lut[8] == round(3523 / 64 * pes)
    # beyond 8:1 the 4:1 -> 8:1 growth per lane is extended: 8 more lanes, 2 x (3523 - 2244)
    assert lut[16] == round((3523 + 2 * (3523 - 2244)) / 64 * pes)
    # several dataflows: the costlier PE (OS 8:1) prices the array
    both = tweak(ws, array__dataflows=["weight_stationary", "output_stationary"])
    assert area(both)["lut"] == round(5632 / 64 * pes)
    assert area(both)["dsp"] == pes                   # one DSP per PE


def test_default_weight_stationary_chunk_is_bounded_by_the_input_buffer():
    # 256 tokens x 64 inputs (32 KiB of A) through an 8 KiB input buffer (single): a chunk of
    # 8 KiB / (64 x 2 B) = 64 rows of A; the output buffer (1 MiB of FP32 psums for 64 columns)
    # would allow 4,096
    arch = tweak(buffers(SAT_ARCH, input_buffer={"size_kib": 8, "double_buffered": False}),
                 dataflow_options__offline_schedule=False)
    g = build_gemms(workload(Layer("fc", "linear", C=64, K=64, H=256)), arch)
    assert int(g.chunk[0]) == 64


def test_a_fused_batch_norm_and_relu_job_by_hand():
    from sparseloom.workloads.ops import Op

    # training FF, bn_relu fusion: batch-norm's 2 passes (statistics, apply) each read the
    # layer's output; ReLU joins the apply pass and writes the output and its 1-bit mask.
    # 96 elements per sample x batch 2 = 192 per pass
    layer = Layer("fc", "linear", C=64, K=6, H=16)
    ops = [Op("fc.bn", "bn", "fc", 96, 96, 6), Op("fc.relu", "relu", "fc", 96, 96)]
    w = replace(workload(layer, mode="training", batch=2), ops=ops)
    jobs = {(j.phase, j.name): j for j in prepare(SAT_ARCH, w).vector.jobs}
    job = jobs[("FF", "fc.bn+fc.relu")]
    E = 192
    assert job.lane_ops == 2 * E + E                      # 2 bn passes + the fused relu
    assert job.read_bytes == 2 * E * 2                          # FP16, once per pass
    assert job.write_bytes == E * 2 + E / 8                     # the output and ReLU's mask
    assert job.lane_cycles == E * 1 + E * 1                       # 1 cycle per element per pass (one lane-cycle each)


def test_the_ablation_ends_at_the_full_design():
    from sparseloom.sim.ablation import ablation, with_options

    w = workload(LINEAR, Layer("fc2", "linear", C=64, K=64, H=16, fwd_nm=NMPattern(2, 8), bwd_nm=NMPattern(2, 8)),
                 mode="training")
    rows = ablation(SAT_ARCH, w)
    full = with_options(SAT_ARCH, interleave=True, pregenerate=True, offline_schedule=True)
    assert rows[-1]["cycles"] == simulate(full, w).totals["cycles"]
    off = with_options(SAT_ARCH, interleave=False, pregenerate=False, offline_schedule=False)
    assert rows[0]["cycles"] == simulate(off, w).totals["cycles"]
    assert [(r["interleave"], r["pregenerate"], r["offline_schedule"]) for r in rows] == [
        (False, False, False), (True, False, False), (True, True, False), (True, True, True)]


@pytest.mark.parametrize("kind", ["layernorm", "rmsnorm"])
def test_a_normalisation_job_by_hand(kind):
    from sparseloom.workloads.ops import Op

    # a normalisation over 16 rows of 6: forward reads x and writes y; backward reads x and dy
    # and writes dx (FP16 each); 96 elements per sample x batch 2 = 192
    layer = Layer("fc", "linear", C=64, K=6, H=16)
    w = replace(workload(layer, mode="training", batch=2), ops=[Op("fc.ln", kind, "fc", 96, 96, 16)])
    jobs = {(j.phase, j.name): j for j in prepare(SAT_ARCH, w).vector.jobs}
    E = 192
    forward, backward = jobs[("FF", "fc.ln")], jobs[("BP", "fc.ln")]
    assert (forward.read_bytes, forward.write_bytes, forward.lane_ops) == (E * 2, E * 2, E)
    assert (backward.read_bytes, backward.write_bytes, backward.lane_ops) == (2 * E * 2, E * 2, E)


def test_vector_lanes_traffic_by_hand():
    # a 16 x 256 x 64 GEMM on SAT's 128 lanes: one output column per lane, 2 passes over the
    # columns, each streaming all of A (2 KiB) from the input buffer; B streams once
    cost = gemm_cost(ff_gemm(SAT_ARCH, Layer("fc", "linear", C=64, K=256, H=16), "vector_lanes"), SAT_ARCH)
    a, b = 16 * 64 * 2, 64 * 256 * 2
    assert reads_writes(cost, "input_buffer") == (2 * a, a)
    assert reads_writes(cost, "weight_buffer") == (b, b)


def test_update_energy_scales_with_the_optimizer_cycles():
    # AdamW at 4 cycles per weight on an engine whose SGD step takes 3: 4/3 of the SGD energy
    layer = Layer("fc", "linear", C=64, K=32, H=4)
    arch = tweak(SAT_ARCH, weight_update__cycles_per_element=3, weight_update__adamw_cycles_per_element=4)
    side = prepare(arch, workload(layer, mode="training", optimizer="adamw")).side.frame().set_index("phase")
    assert side.loc["UPDATE"].energy_side_pj == pytest.approx(64 * 32 * arch.energy.update_pj_per_element * 4 / 3)


def test_explain_words_of_a_mapping_by_hand():
    from sparseloom.dataflow.flows import FLOWS

    # 16 x 64 x 64 on 32 x 32: 2 x 2 weight tiles, one chunk of all 16 rows; 1 x 2 output tiles
    ws = ff_gemm(SAT_ARCH)
    assert FLOWS["weight_stationary"].describe(ws, SAT_ARCH) == (
        "weight-stationary, A in 1 chunk(s) of 16 rows, 2 x 2 weight tiles (one after another), rows of A outermost")
    os_ = ff_gemm(SAT_ARCH, flow="output_stationary", chunk=2, n_outer=True, interleave=True)
    assert FLOWS["output_stationary"].describe(os_, SAT_ARCH) == (
        "output-stationary, 1 x 2 output tiles (interleaved in groups of 2), K=64 streamed, columns of B outermost")
