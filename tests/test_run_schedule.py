"""Sparsity schedules over a training run: the run's time is the sum of its phases' iterations,
each simulated from its own trace; bad schedules are named errors."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import yaml

from sparseloom.apps.simulate import main as simulate_main
from sparseloom.arch.schema import load_arch
from sparseloom.core.errors import InputError
from sparseloom.sim.columns import RUN
from sparseloom.sim.run import simulate_run
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.build import make_trace
from sparseloom.workloads.llm import llm_trace
from sparseloom.workloads.run_schedule import FILE, load_run_schedule
from sparseloom.workloads.trace import load_workload, write_workload

from .conftest import SAT

ARCH = load_arch(SAT)
PHASES = [{"name": "warm-up", "start": 0, "end": 1000, "nm": "dense"},
          {"name": "two-of-four", "start": 1000, "end": 3000, "nm": "2:4"},
          {"name": "two-of-eight", "start": 3000, "end": 9000, "nm": "2:8"},
          {"name": "one-of-eight", "start": 9000, "end": 9500, "nm": "1:8"},
          {"name": "decaying", "start": 9500, "end": 9700, "nm": "2:8", "decay": True},
          {"name": "fine-tune", "start": 9700, "end": 10000, "nm": "dense"}]


def _trace_with(tmp_path, phases, workload=None):
    workload = workload or make_trace("resnet9_2of8", "resnet9", "bdwp", "2:8", 128)[0]
    folder = write_workload(workload, tmp_path / "trace")
    (folder / FILE).write_text(yaml.safe_dump({"phases": phases}, sort_keys=False))
    return load_workload(folder)


def test_run_time_is_the_sum_of_each_phase_trace_simulated_on_its_own(tmp_path):
    workload = _trace_with(tmp_path, PHASES)
    run = simulate_run(ARCH, workload, load_run_schedule(workload))
    # independently: a trace generated at each phase's pattern (a decaying mask runs dense)
    time_ms = energy_uj = 0.0
    for p in PHASES:
        nm = "dense" if p.get("decay") or p["nm"] == "dense" else p["nm"]
        own = make_trace("phase", "resnet9", "dense" if nm == "dense" else "bdwp", nm, 128)[0]
        totals = simulate(ARCH, own).totals
        time_ms += (p["end"] - p["start"]) * totals["time_ms"]
        energy_uj += (p["end"] - p["start"]) * totals["energy_uj"]
    assert run.iterations == 10000
    assert run.time_s == pytest.approx(time_ms / 1e3, rel=1e-12)
    assert run.energy_j == pytest.approx(energy_uj / 1e6, rel=1e-12)
    dense = simulate(ARCH, make_trace("d", "resnet9", "dense", "dense", 128)[0]).totals["time_ms"]
    assert run.average_speedup == pytest.approx(10000 * dense / time_ms, rel=1e-12)
    # the average sits between the slowest and fastest phase, below its ideal and the steady state
    speedups = [p.speedup for p in run.phases]
    assert min(speedups) <= run.average_speedup <= max(speedups)
    assert not run.above_ideal and run.average_speedup < run.steady["speedup"]
    assert [p.nm for p in run.phases] == ["dense", "2:4", "2:8", "1:8", "dense", "dense"]
    assert tuple(run.as_dict()) == tuple(c.name for c in RUN)                  # the declared JSON keys


def test_the_issue_example_averages_well_below_the_steady_state(tmp_path):
    # 10% dense + 20% 2:4 + 70% 2:8 on SAT: the harmonic, time-weighted mean of the phase speedups
    phases = [{"name": "dense", "start": 0, "end": 10, "nm": "dense"},
              {"name": "a", "start": 10, "end": 30, "nm": "2:4"}, {"name": "b", "start": 30, "end": 100, "nm": "2:8"}]
    run = simulate_run(ARCH, w := _trace_with(tmp_path, phases), load_run_schedule(w))
    s24, s28 = run.phases[1].speedup, run.phases[2].speedup
    assert run.average_speedup == pytest.approx(1 / (0.1 + 0.2 / s24 + 0.7 / s28), rel=1e-12)
    assert run.average_speedup < 0.92 * run.steady["speedup"]


BAD = [
    ([{"name": "a", "start": 5, "end": 10, "nm": "dense"}], "phases[0].start", "expected the first phase to start at iteration 0"),
    ([{"name": "a", "start": 0, "end": 10, "nm": "dense"}, {"name": "b", "start": 12, "end": 20, "nm": "2:4"}],
     "phases[1].start", "where phase 0 ('a') ends, at 10"),
    ([{"name": "a", "start": 0, "end": 0, "nm": "dense"}], "phases[0].end", "expected a number > 0"),
    ([{"name": "a", "start": 0, "end": 10, "nm": "3:2"}], "phases[0].nm", "expected 1 <= N <= M"),
    ([{"name": "a", "start": 0, "end": 10, "nm": "dense", "decay": True}], "phases[0].decay", "expected an N:M nm"),
    ([{"name": "a", "start": 0, "end": 10, "nm": "2:4", "sparsity": 1}], "phases[0].sparsity", "unknown key"),
    ([], "phases", "expected at least one phase"),
]


@pytest.mark.parametrize("phases,where,expected", BAD)
def test_bad_schedules_name_the_file_field_and_expectation(tmp_path, phases, where, expected):
    workload = _trace_with(tmp_path, phases)
    with pytest.raises(InputError) as err:
        load_run_schedule(workload)
    assert err.value.file.endswith(FILE) and err.value.where == where and expected in err.value.message


def test_an_inference_trace_refuses_a_run_schedule(tmp_path):
    workload = _trace_with(tmp_path, PHASES[:1], llm_trace("g", "gpt2_small", "inference", 64))
    with pytest.raises(InputError, match="expected a training trace for a run schedule"):
        load_run_schedule(workload)


def test_simulate_prints_the_run_and_exits_2_on_a_bad_schedule(tmp_path, capsys):
    workload = _trace_with(tmp_path, PHASES)
    assert simulate_main([str(SAT), str(workload.path)]) == 0
    out = capsys.readouterr().out
    assert "10,000 iterations in 6 phases" in out and "averaged over the run" in out
    (workload.path / FILE).write_text("phases: [{name: a, start: 0, end: 10, nm: '2:4'}, {name: b, start: 11, end: 20, nm: dense}]")
    assert simulate_main([str(SAT), str(workload.path)]) == 2
    assert "run_schedule.yaml: phases[1].start: expected it to start where phase 0" in capsys.readouterr().err


PATTERN_TIMES: dict = {}


def _iteration_ms(nm: str) -> float:
    """One iteration of ResNet-9 generated at ``nm`` (dense for a decaying phase), simulated on its own."""
    if nm not in PATTERN_TIMES:
        method = "dense" if nm == "dense" else "bdwp"
        PATTERN_TIMES[nm] = simulate(ARCH, make_trace("p", "resnet9", method, nm, 128)[0]).totals["time_ms"]
    return PATTERN_TIMES[nm]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from(["dense", "2:4", "2:8", "1:8", "decay"])),
                min_size=1, max_size=6))
def test_any_schedule_sums_its_phases_and_averages_between_them(tmp_path, phases):
    spec, start = [], 0
    for i, (length, nm) in enumerate(phases):
        spec.append({"name": f"p{i}", "start": start, "end": start + length, "nm": "2:8" if nm == "decay" else nm,
                     **({"decay": True} if nm == "decay" else {})})
        start += length
    workload = _trace_with(tmp_path, spec)
    run = simulate_run(ARCH, workload, load_run_schedule(workload))
    expected = sum(length * _iteration_ms("dense" if nm == "decay" else nm) for length, nm in phases)
    assert run.time_s == pytest.approx(expected / 1e3, rel=1e-12)
    speedups = [p.speedup for p in run.phases]
    assert min(speedups) * (1 - 1e-12) <= run.average_speedup <= max(speedups) * (1 + 1e-12)
    assert not run.above_ideal
