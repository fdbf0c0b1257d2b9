"""The schedule as a file: saved and loaded bit for bit, edits take effect, illegal ones are named;
side engines write exactly the weight copies the schedule's GEMMs read; input-stationary end to end."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

from sparseloom.arch.schema import load_arch
from sparseloom.core.errors import CapacityError, InputError
from sparseloom.dataflow.flows import FLOWS
from sparseloom.dataflow.schedule import load_schedule, schedule_yaml
from sparseloom.reports.explain import explain_text
from sparseloom.sim.simulate import simulate
from sparseloom.sim.traffic import weight_copy_bytes
from sparseloom.workloads.trace import load_workload

from .conftest import RESNET50_2OF8, ROOT, SAT

BASE = load_arch(SAT)
PRESETS = sorted((ROOT / "arch").glob("*.yaml"))


@pytest.fixture(scope="module")
def resnet():
    return load_workload(RESNET50_2OF8)


def saved(result, workload, arch, tmp_path, edit=None):
    data = yaml.safe_load(schedule_yaml(result.schedule, workload, arch))
    if edit:
        edit(data)
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("fidelity", ["analytic", "event"])
def test_saved_schedule_reproduces_the_result_bit_for_bit(resnet, tmp_path, fidelity):
    first = simulate(BASE, resnet, fidelity)
    again = simulate(BASE, resnet, fidelity, schedule=load_schedule(saved(first, resnet, BASE, tmp_path), resnet, BASE))
    assert again.rows.equals(first.rows) and again.totals == first.totals


def test_an_edited_schedule_changes_the_result(resnet, tmp_path):
    first = simulate(BASE, resnet)

    def edit(data):   # layer1.0.conv1 FF to output-stationary, groups of 4 tiles
        entry = data["gemms"][1]
        assert (entry["layer"], entry["phase"], entry["dataflow"]) == ("layer1.0.conv1", "FF", "weight_stationary")
        entry.update(dataflow="output_stationary", chunk=4)

    edited = simulate(BASE, resnet, schedule=load_schedule(saved(first, resnet, BASE, tmp_path, edit), resnet, BASE))
    row = edited.rows[(edited.rows.name == "layer1.0.conv1") & (edited.rows.phase == "FF")].iloc[0]
    assert row.dataflow == "output_stationary" and row.chunk == 4
    assert edited.totals["cycles"] != first.totals["cycles"]
    assert "from the schedule file" in explain_text(edited, "layer1.0.conv1")


def test_executing_a_denser_pattern_reads_a_bigger_copy(resnet, tmp_path):
    first = simulate(BASE, resnet)

    def edit(data):   # run layer1.0.conv1 FF as 2:4 instead of 2:8: the copy doubles
        data["gemms"][1]["executes"] = "2:4"

    edited = simulate(BASE, resnet, schedule=load_schedule(saved(first, resnet, BASE, tmp_path, edit), resnet, BASE))
    pick = lambda r, phase: r.rows[(r.rows.name == "layer1.0.conv1") & (r.rows.phase == phase)].iloc[0]
    assert pick(edited, "FF").pattern == "2:4" and pick(edited, "FF").k_eff == 2 * pick(first, "FF").k_eff
    # the pruning unit writes the 2:4 copy (2 values + 2 index bits per 4) instead of 2:8 (2 + 3 bits per 8)
    weights = 64 * 64
    grow = weights * (2 / 4 * (2 + 2 / 8) - 2 / 8 * (2 + 3 / 8))
    assert pick(edited, "PRUNE").dram_write_bytes - pick(first, "PRUNE").dram_write_bytes == pytest.approx(grow)


@pytest.mark.parametrize("edit, where, message", [
    (lambda d: d["gemms"][1].update(dataflow="input_stationary"), "gemms[1].dataflow", "expected one of SAT's dataflows"),
    (lambda d: d["gemms"][1].update(chunk=10 ** 9), "gemms[1]", "chunk of 1,000,000,000"),
    (lambda d: d["gemms"][1].update(chunk=0), "gemms[1].chunk", "expected an integer >= 1"),
    (lambda d: d["gemms"][1].update(executes="1:8"), "gemms[1].executes", "holds the operand's own 2:8"),
    (lambda d: d["gemms"][1].update(executes="3:7"), "gemms[1].executes", "expected a pattern SAT executes"),
    (lambda d: d["gemms"][1].update(loop_order="sideways"), "gemms[1].loop_order", "rows_of_a or columns_of_b"),
    (lambda d: d["gemms"].reverse(), "gemms[0]", "expected layer conv1 FF here"),
    (lambda d: d["gemms"].pop(), "gemms", "expected a list of 161 GEMM entries"),
    (lambda d: d["gemms"][1].pop("chunk"), "gemms[1]", "expected the keys"),
    (lambda d: d.update(batch=8), "batch", "expected 32"),
])
def test_an_illegal_schedule_is_refused_with_a_named_error(resnet, tmp_path, edit, where, message):
    path = saved(simulate(BASE, resnet), resnet, BASE, tmp_path, edit)
    with pytest.raises((InputError, CapacityError)) as info:
        load_schedule(path, resnet, BASE)
    assert f"{path}: {where}" in str(info.value) and message in str(info.value)


def test_interleave_cannot_be_switched_on_where_the_arch_has_none(resnet, tmp_path):
    off = replace(BASE, dataflow_options=replace(BASE.dataflow_options, interleave=False))
    path = saved(simulate(BASE, resnet), resnet, BASE, tmp_path)
    with pytest.raises(InputError, match="interleave: .*true only with"):
        load_schedule(path, resnet, off)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_side_engines_write_exactly_the_copies_the_gemms_read(preset, resnet):
    arch = load_arch(preset)
    result = simulate(arch, resnet)
    g = result.schedule.gemms
    copies = weight_copy_bytes(g, arch) * g.count
    rows = result.rows
    for index, layer in enumerate(resnet.layers):
        reads = {str(p): float(copies[i]) for i in np.flatnonzero(g.layer == index) for p in [g.phase[i]] if p != "WU"}
        side = rows[rows.layer == index]
        pruned = side[side.phase == "PRUNE"].dram_write_bytes.sum()
        update = side[side.phase == "UPDATE"].dram_write_bytes.sum()
        master = 2 * layer.weights * layer.repeat * 4            # FP32 weights and momentum
        sparse = {p: b for p, b in reads.items() if (layer.fwd_nm if p == "FF" else layer.bwd_nm).dense is False}
        dense = {p: b for p, b in reads.items() if p not in sparse}
        assert pruned == pytest.approx(sum(sparse.values()))
        # the dense directions share one FP16 copy, written by the update engine
        assert update - master == pytest.approx(max(dense.values(), default=0))


def test_input_stationary_end_to_end(resnet):
    flexible = replace(BASE, array=replace(BASE.array, dataflows=list(FLOWS)))
    for fidelity in ("analytic", "event"):
        result = simulate(flexible, resnet, fidelity)
        assert result.totals["cycles"] <= simulate(BASE, resnet, fidelity).totals["cycles"]
    only = replace(BASE, array=replace(BASE.array, dataflows=["input_stationary"]))
    analytic, event = simulate(only, resnet), simulate(only, resnet, "event")
    assert set(analytic.rows[analytic.rows.engine == "array"].dataflow) == {"input_stationary"}
    assert event.totals["cycles"] >= analytic.totals["cycles"]
    text = explain_text(simulate(flexible, resnet), "layer3.1.conv2")
    assert "input-stationary" in text and ("best IS" in text or "chosen    input-stationary" in text)


@pytest.mark.parametrize("fidelity", ["analytic", "event"])
def test_resized_sat_runs_in_both_fidelities(resnet, fidelity):
    # review regression: SAT at 48x64 with a 6-cycle adder and a 16 KiB input buffer died in the
    # event fidelity with "Negative delay -176" (the interleaved timing was not monotone in m)
    arch = replace(BASE, array=replace(BASE.array, rows=48, cols=64, accumulator_latency_cycles=6),
                   buffers=[replace(b, size_kib=16) if b.name == "input_buffer" else b for b in BASE.buffers])
    result = simulate(arch, resnet, fidelity)
    assert result.totals["cycles"] * arch.pes >= result.totals["macs"]
    assert (result.rows.cycles >= 0).all()


def test_the_schedule_lists_its_vector_jobs_and_refuses_other_ones(resnet, tmp_path):
    first = simulate(BASE, resnet)
    text = schedule_yaml(first.schedule, resnet, BASE)
    data = yaml.safe_load(text)
    jobs = data["vector_jobs"]
    assert len(jobs) == int((first.side.engine == "vector").sum()) > 100
    assert jobs[0] == {"ops": "conv1.bn+conv1.relu", "phase": "FF", "after": "layer conv1 FF",
                       "before": "layer layer1.0.conv1 FF"}
    # the stem's backward jobs wait for the gradient of layer1.0.conv1 and hold the stem's WU
    assert jobs[-1] == {"ops": "conv1.bn+conv1.relu", "phase": "BP", "after": "layer layer1.0.conv1 BP",
                        "before": "layer conv1 WU"}
    # the max-pool after the stem is its own job under bn_relu fusion, waiting for the stem's GEMM
    assert jobs[1]["ops"] == "conv1.maxpool" and jobs[1]["after"] == "layer conv1 FF"
    data["vector_jobs"][0]["ops"] = "conv1.bn"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(InputError, match=r"vector_jobs\[0\]: expected .*change it there"):
        load_schedule(path, resnet, BASE)
