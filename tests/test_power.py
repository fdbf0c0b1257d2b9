"""The power model (explore/power.py), operand movement (sim/cost.py), area and fmax beyond the PE
array (explore/fabric.py): checked by hand on a one-layer design, against the clock, against the
resource table, and in a sweep over clock and channels."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.arch.technology import device
from sparseloom.core.errors import InputError
from sparseloom.explore.area import pe_of, per_pe
from sparseloom.explore.evaluate import evaluate_many
from sparseloom.explore.fabric import DOES_NOT_FIT, clock_problem, design_area, fit_problem, fmax_mhz
from sparseloom.explore.points import design_points
from sparseloom.explore.power import power_notes, power_totals
from sparseloom.explore.spec import load_spec
from sparseloom.reports.sweep_report import pareto
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta

from .conftest import ROOT, SAT

TECH = ROOT / "arch" / "technology"
SMALL = replace(load_arch(SAT), vector_engine=replace(load_arch(SAT).vector_engine, runs_gemms=False))
SMALL = replace(SMALL, array=replace(SMALL.array, rows=4, cols=4, dataflows=["weight_stationary"]))


def fc(nm: str, batch: int = 4, c: int = 256, k: int = 64) -> Workload:
    pattern = NMPattern.parse(nm)
    meta = WorkloadMeta("fc", "fc", "none", [c, 1, 1], batch, "inference", Sparsity("srste", nm), Provenance("none", "test"))
    return Workload(meta, [Layer("fc", "linear", c, k, fwd_nm=pattern, bwd_nm=pattern, input_grad=0)])


def test_energy_is_counted_actions_plus_power_times_time_by_hand():
    # one 4x256 @ 256x64 GEMM, 1:4 weights, on a 4x4 weight-stationary SAT (FP16 operands, FP32 sums)
    r = simulate(SMALL, fc("1:4"))
    e, g, t = SMALL.energy, r.gemms.iloc[0], r.totals
    m, n, k, k_eff, rows = 4, 64, 256, 64, 4
    assert (g.m, g.n, g.k, g.k_eff, g.dataflow) == (m, n, k, k_eff, "weight_stationary")
    slots = m * n * k_eff
    assert g.energy_compute_pj == pytest.approx(slots * e.mac_pj)
    dev = yaml.safe_load((TECH / "xcvu9p.yaml").read_text())
    reg, mux = dev["register_pj_per_bit"], dev["mux_pj_per_input_bit"]
    # every slot's PE latches the 4 FP16 activations of its group and its 4:1 multiplexer switches
    # over them; each of the 64 x 64 kept weights (16 bits and a 2-bit index) shifts (4 + 1) / 2
    # rows down the chain and into its shadow register once
    movement = slots * 4 * 16 * (reg + mux) + k_eff * n * (16 + 2) * ((rows + 1) / 2 + 1) * reg
    assert g.energy_movement_pj == pytest.approx(movement)
    # DRAM: A (4 x 256 FP16), B's 4,096 kept values with 2-bit indices, C (4 x 64 FP16), each once
    dram = m * k * 2 + k_eff * n * (2 + 2 / 8) + m * n * 2
    assert g.dram_read_bytes + g.dram_write_bytes == dram and g.energy_dram_pj == pytest.approx(dram * e.dram_pj_per_byte)
    # buffers: A read once per column tile (n / 4), B once; FP32 partial sums written per k-tile
    # (k_eff / 4) and read back but for the first, and C read out in FP16
    reads = m * k * 2 * (n // 4) + k_eff * n * 2.25 + m * n * 4 * (k_eff // rows - 1) + m * n * 2
    writes = m * k * 2 + k_eff * n * 2.25 + m * n * 4 * (k_eff // rows)
    assert g.energy_buffer_pj == pytest.approx(reads * e.buffer_read_pj_per_byte + writes * e.buffer_write_pj_per_byte)
    counted = (g.energy_compute_pj + g.energy_movement_pj + g.energy_buffer_pj + g.energy_dram_pj) / 1e6
    assert t["energy_uj"] == pytest.approx(counted)
    # power over the iteration's time, from the technology files' own figures
    cells, seconds, mhz = design_area(SMALL), t["cycles"] / (SMALL.clock_mhz * 1e6), SMALL.clock_mhz
    static = dev["static_w"] + dev["static_mw_per"]["bram"] * cells["bram"] / 1e3
    clock = mhz * (dev["clock_base_mw_per_mhz"] / 1e3 + sum(dev["clock_uw_per_mhz"][c] * cells[c] for c in ("ff", "dsp", "bram")) / 1e6)
    ddr = yaml.safe_load((TECH / "ddr4_2400_rdimm.yaml").read_text())
    channels, d = SMALL.dram.channels, SMALL.dram
    background = channels * ddr["vdd_v"] * (ddr["background_ma_per_channel"] + ddr["refresh_ma_per_channel"] * d.refresh_cycle_ns / d.refresh_interval_ns) / 1e3
    controllers = channels * dev["memory_controller"]["power_w"]
    p = power_totals(SMALL, t)
    assert p["total_energy_uj"] == pytest.approx(counted + (static + clock + background + controllers) * seconds * 1e6)
    assert p["average_power_w"] == pytest.approx(p["total_energy_uj"] / 1e6 / seconds)
    assert p["pj_per_useful_mac"] == pytest.approx(p["total_energy_uj"] * 1e6 / slots)
    assert p["gops_per_w"] == pytest.approx(2 * slots / (p["total_energy_uj"] / 1e6) / 1e9)


def test_output_stationary_movement_energy_by_hand():
    """The same GEMM output-stationary: every slot still latches its group's 4 activations through
    a 4:1 multiplexer, and each kept weight with its index bits passes down all R rows once per
    pass of B, one pass per tile of A's rows (4 rows: one)."""
    os_only = replace(SMALL, array=replace(SMALL.array, dataflows=["output_stationary"]))
    g = simulate(os_only, fc("1:4")).gemms.iloc[0]
    dev = yaml.safe_load((TECH / "xcvu9p.yaml").read_text())
    reg, mux = dev["register_pj_per_bit"], dev["mux_pj_per_input_bit"]
    m, n, k_eff, rows = 4, 64, 64, 4
    assert (g.dataflow, g.m, g.n, g.k_eff) == ("output_stationary", m, n, k_eff)
    passes = -(-m // rows)
    movement = m * n * k_eff * 4 * 16 * (reg + mux) + passes * k_eff * n * (16 + 2) * rows * reg
    assert g.energy_movement_pj == pytest.approx(movement) and movement > 0


def test_halving_the_clock_halves_dynamic_power_and_keeps_static():
    fast, slow = SMALL, replace(SMALL, clock_mhz=SMALL.clock_mhz / 2)
    a, b = simulate(fast, fc("1:4", batch=64)), simulate(slow, fc("1:4", batch=64))
    assert a.totals["cycles"] == b.totals["cycles"] and a.totals["stall_dram"] == 0    # compute-bound at both clocks
    pa, pb = power_totals(fast, a.totals), power_totals(slow, b.totals)
    assert pb["power_clock_w"] == pytest.approx(pa["power_clock_w"] / 2)
    assert pb["power_dynamic_w"] == pytest.approx(pa["power_dynamic_w"] / 2)
    for part in ("power_static_w", "power_dram_background_w", "power_memory_controller_w"):
        assert pb[part] == pa[part] > 0
    assert pb["energy_clock_uj"] == pytest.approx(pa["energy_clock_uj"])          # the same cycles
    assert pb["energy_static_uj"] == pytest.approx(2 * pa["energy_static_uj"])     # twice the time


def test_equal_density_different_m_differs_by_the_multiplexer_and_index_terms():
    # 1:4 and 2:8 keep a quarter of the weights: same MACs, cycles and MAC energy on one array,
    # but a 2:8 PE latches and selects among 8 activations, not 4, and every weight carries 3 index bits, not 2
    a, b = simulate(SMALL, fc("1:4")), simulate(SMALL, fc("2:8"))
    ga, gb = a.gemms.iloc[0], b.gemms.iloc[0]
    assert (ga.macs, ga.cycles, ga.energy_compute_pj) == (gb.macs, gb.cycles, gb.energy_compute_pj)
    dev = device("xcvu9p")
    slots, weights, hops = ga.macs, ga.k_eff * ga.n, (4 + 1) / 2 + 1
    lanes = slots * (8 - 4) * 16 * (dev.register_pj_per_bit + dev.mux_pj_per_input_bit)
    index = weights * (3 - 2) * hops * dev.register_pj_per_bit
    assert gb.energy_movement_pj - ga.energy_movement_pj == pytest.approx(lanes + index)
    assert gb.energy_dram_pj - ga.energy_dram_pj == pytest.approx(weights / 8 * SMALL.energy.dram_pj_per_byte)
    # area: an array built for M = 4 against one for M = 8 costs the synthesised 4:1 and 8:1 PEs' difference
    narrow = replace(SMALL, sparsity=replace(SMALL.sparsity, nm_patterns=["dense", "1:4"], max_m=4))
    wide = replace(SMALL, sparsity=replace(SMALL.sparsity, nm_patterns=["dense", "2:8"], max_m=8))
    low, high = (per_pe("xcup", "weight_stationary", lanes, pe_of(SMALL)) for lanes in (4, 8))
    an, aw = design_area(narrow), design_area(wide)
    for cell in ("lut", "ff"):
        assert aw[cell] - an[cell] == pytest.approx(SMALL.pes * (high[cell] - low[cell]), abs=1)
    assert aw["lut"] > an["lut"]
    # fmax: the device files' critical paths are the int8 PE's, so these use the integer datapath
    narrow, wide = (replace(x, array=replace(x.array, operand_dtype="int8", accumulator_dtype="int32")) for x in (narrow, wide))
    one_stage = [replace(x, array=replace(x.array, mac_pipeline_stages=1)) for x in (narrow, wide)]
    assert fmax_mhz(one_stage[1]) < fmax_mhz(one_stage[0])     # one more multiplexer level in the 1-stage path...
    assert fmax_mhz(wide) == fmax_mhz(narrow) > 0               # ...which SAT's registered multiplexer (3 stages) hides


def test_ecp5_critical_path_gives_back_the_measured_fmax():
    # README, Hardware: the 4x4 8:1 ws_gemm_board on an LFE5U-85F at 1, 2 and 3 MAC stages
    ecp5 = device("ecp5_85f")
    assert [round(ecp5.fmax_mhz(s, 8), 1) for s in (1, 2, 3)] == [67.9, 97.4, 108.5]
    assert ecp5.fmax_mhz(5, 8) == ecp5.fmax_mhz(3, 8)                 # the unregistered block RAM read bounds deeper pipelines


def test_area_grows_with_stages_flexibility_buffers_and_channels():
    base = load_arch(SAT)
    a = design_area(base)
    deeper = design_area(replace(base, array=replace(base.array, mac_pipeline_stages=5)))
    single = design_area(replace(base, array=replace(base.array, dataflows=["output_stationary"])))
    more_channels = design_area(replace(base, dram=replace(base.dram, channels=8)))
    bigger = design_area(replace(base, buffers=[replace(b, size_kib=2 * b.size_kib) for b in base.buffers]))
    assert deeper["ff"] > a["ff"] and deeper["lut"] == a["lut"]
    assert single["lut"] < a["lut"] and single["ff"] < a["ff"]
    assert more_channels["io"] == 2 * a["io"] > 0 and more_channels["lut"] > a["lut"]
    assert bigger["bram"] > a["bram"]


def test_sweep_over_clock_and_channels_has_a_pareto_front(tmp_path):
    spec = {"name": "clock_channels", "base_arch": str(SAT), "workloads": [str(ROOT / "workloads" / "resnet9_2of8")],
            "parameters": {"clock_mhz": [100, 150, 250], "dram.channels": [1, 2, 4], "array.mac_pipeline_stages": [1, 3]},
            # the int8 datapath: the device file's critical paths are the int8 PE's (an FP PE has no fmax)
            "fixed": {"array.operand_dtype": "int8", "array.accumulator_dtype": "int32"},
            "sampling": {"method": "grid"}, "metrics": ["time_ms", "dense_equivalent_tmacs", "total_energy_uj", "average_power_w", "ff", "fmax_mhz"]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    spec = load_spec(path)
    rows = evaluate_many(spec, design_points(spec))
    failed = [r for r in rows if r["status"] != "ok"]
    # 250 MHz is above what a 1-stage 8:1 PE reaches on the XCVU9P (196 MHz): refused with the reason
    assert {(r["clock_mhz"], r["array.mac_pipeline_stages"]) for r in failed} == {(250, 1)}
    assert all("mac_pipeline_stages" in r["error"] for r in failed)
    ok = [r for r in rows if r["status"] == "ok"]

    def front(x: str, y: str, maximise: bool) -> list[dict]:
        return [ok[i] for i in pareto(np.array([r[x] for r in ok]), np.array([r[y] for r in ok]), maximise)]

    # power against throughput: every clock, channel count and depth has its place on the front
    by_power = front("average_power_w", "dense_equivalent_tmacs", True)
    assert {r["clock_mhz"] for r in by_power} == {100, 150, 250} and {r["dram.channels"] for r in by_power} == {1, 2, 4}
    # registers against throughput: 250 MHz needs the 3-stage PE's flip-flops, 150 MHz does not
    by_ff = front("ff", "dense_equivalent_tmacs", True)
    assert {r["array.mac_pipeline_stages"] for r in by_ff} == {1, 3}
    # energy against time: static and DRAM background dominate, so the fastest clock costs the
    # least energy and the channels trade time against energy
    by_energy = front("time_ms", "total_energy_uj", False)
    assert len(by_energy) >= 2 and {r["clock_mhz"] for r in by_energy} == {250}
    assert len({r["dram.channels"] for r in by_energy}) >= 2


def test_a_design_larger_than_its_fpga_is_not_buildable(tmp_path):
    """SAT's own 32x32 array fits its VCU1525's XCVU9P (1,182,240 LUTs); four times the PEs do not,
    and a sweep point that needs them fails with the resource, its count and the part's, not a
    time the part cannot deliver. A smaller array never fits worse."""
    sat = load_arch(SAT)
    assert fit_problem(sat) is None and design_area(sat)["lut"] <= 1_182_240
    big = replace(sat, array=replace(sat.array, rows=64, cols=64))
    lut = design_area(big)["lut"]
    assert lut > 4 * 1_131_820 * 0.95          # the PE array is most of SAT's LUTs
    assert fit_problem(big) == (f"{DOES_NOT_FIT}: the design needs more than XCVU9P (UltraScale+, -2L) has "
                                f"(lut {lut:,} of 1,182,240); shrink the array or the buffers, or name a larger "
                                "part in energy.technology")
    assert [n for n in power_notes(big) if DOES_NOT_FIT in n] == [f"not buildable as is: {fit_problem(big)}"]
    assert not any(DOES_NOT_FIT in n for n in power_notes(sat))
    sizes = [(r, c) for r in (8, 16, 32, 64) for c in (8, 16, 32, 64)]
    fits = {size: fit_problem(replace(sat, array=replace(sat.array, rows=size[0], cols=size[1]))) is None for size in sizes}
    assert all(fits[(r, c)] <= fits[(r2, c2)] for r, c in sizes for r2, c2 in sizes if r2 * c2 <= r * c)
    spec = {"name": "fit", "base_arch": str(SAT), "workloads": [str(ROOT / "workloads" / "resnet9_2of8")],
            "parameters": {"array.rows": [16, 64]}, "fixed": {"array.cols": 64},
            "sampling": {"method": "grid"}, "metrics": ["time_ms", "lut"]}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    spec = load_spec(path)
    rows = {r["array.rows"]: r for r in evaluate_many(spec, design_points(spec))}
    assert rows[16]["status"] == "ok" and rows[16]["lut"] <= 1_182_240 and rows[16]["time_ms"] > 0
    assert rows[64]["status"] == "error" and "time_ms" not in rows[64]
    assert DOES_NOT_FIT in rows[64]["error"] and "of 1,182,240" in rows[64]["error"]
    import pandas as pd
    from sparseloom.reports.sweep_report import _infeasible

    table = pd.DataFrame({"error": [rows[64]["error"], "ValueError: clock above fmax: ...", "ValueError: other", ""]})
    assert _infeasible(table) == " (1 of them clocked above their PE's fmax, 1 larger than their FPGA)"
    assert _infeasible(table.iloc[[0, 3]]) == " (1 of them larger than their FPGA)"


def test_a_capacity_names_the_device_file_and_field(tmp_path):
    from sparseloom.arch.technology import Device
    from sparseloom.core.typed_yaml import build, read_yaml

    data = read_yaml(TECH / "xcvu9p.yaml")
    for capacity, field in (({"luts": 10}, "capacity.luts"), ({"lut": 0}, "capacity.lut")):
        with pytest.raises(InputError) as info:
            build(Device, {**data, "capacity": capacity}, "bad.yaml")
        assert "bad.yaml" in str(info.value) and field in str(info.value)


def test_a_bad_technology_name_names_the_file_and_field(sat_data, write_yaml):
    sat_data["energy"]["technology"] = "xcvu9"
    with pytest.raises(InputError) as info:
        load_arch(write_yaml(sat_data))
    assert "energy.technology" in str(info.value) and "xcvu9p" in str(info.value)
    sat_data["energy"]["technology"] = "ddr4_2400_rdimm"          # a DRAM file where a device is expected
    with pytest.raises(InputError) as info:
        load_arch(write_yaml(sat_data))
    assert "energy.technology" in str(info.value) and "unknown key" in str(info.value)


def test_no_technology_means_no_fixed_power_and_a_note():
    from sparseloom.explore.power import power_notes

    bare = replace(SMALL, energy=replace(SMALL.energy, technology=None, dram_technology=None))
    r = simulate(bare, fc("1:4"))
    p = power_totals(bare, r.totals)
    assert r.totals["energy_movement_uj"] == 0 and p["total_energy_uj"] == pytest.approx(r.totals["energy_uj"])
    assert p["fmax_mhz"] is None and len(power_notes(bare)) == 2


def test_a_floating_point_pe_has_no_fmax_and_says_its_clock_is_not_backed():
    """The device files' critical paths were measured on the int8 PE; SAT's FP16/FP32 PE gets none."""
    assert fmax_mhz(SMALL) is None and clock_problem(SMALL) is None
    assert any("not backed" in n for n in power_notes(SMALL))
    integer = replace(SMALL, array=replace(SMALL.array, operand_dtype="int8", accumulator_dtype="int32"))
    assert fmax_mhz(integer) > 0 and not any("not backed" in n for n in power_notes(integer))


def test_the_power_and_area_models_run_without_pandas():
    # `simulate` calls power_totals and power_notes for every run: the area model reads its
    # resource table without pandas (which costs ~0.1-0.4 s to import)
    import subprocess
    import sys

    code = ("import sys; from sparseloom.arch.schema import load_arch; from sparseloom.explore import power, fabric; "
            f"arch = load_arch({str(SAT)!r}); print(fabric.design_area(arch)['lut'], power.power_notes(arch)); "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) == design_area(load_arch(SAT))["lut"] > 0

