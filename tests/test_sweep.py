"""Sweeps: specs, sampling, resume after a kill, Dask parity, broken points, the area model, the report."""
from __future__ import annotations

import copy
import csv
import functools
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import Arch, load_arch
from sparseloom.core.errors import InputError
from sparseloom.core.typed_yaml import build, read_yaml
from sparseloom.explore.area import area
from sparseloom.explore.points import design_points
from sparseloom.explore.runner import run_sweep
from sparseloom.explore.spec import load_spec, set_path, with_values
from sparseloom.explore.variants import ArchVariants

from .conftest import RESNET50_2OF8, ROOT, SAT


def write_spec(tmp_path, **changes) -> str:
    spec = {
        "name": "t", "base_arch": str(ROOT / "arch" / "sat.yaml"), "workloads": [str(ROOT / "workloads" / "resnet9_2of8")],
        "parameters": {"array.rows": [8, 16, 32], "array.cols": [8, 16], "dram.channels": [1, 2]},
        "sampling": {"method": "grid"}, "metrics": ["cycles", "time_ms", "energy_uj", "lut", "bram"],
    }
    spec.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def read(path) -> pd.DataFrame:
    return pd.read_csv(path).sort_values("key").reset_index(drop=True)


def test_grid_and_random_sampling(tmp_path):
    grid = design_points(load_spec(write_spec(tmp_path)))
    assert len(grid) == 12 and len({p.key for p in grid}) == 12
    random_spec = load_spec(write_spec(tmp_path, sampling={"method": "random", "points": 5, "seed": 7}))
    a, b = design_points(random_spec), design_points(random_spec)
    assert [p.key for p in a] == [p.key for p in b] and len({p.key for p in a}) == 5
    assert {p.key for p in a} <= {p.key for p in grid}                 # drawn from the grid, no repeats


@pytest.mark.parametrize("change, message", [
    ({"parameters": {"array.colums": [8]}}, "parameters.array.colums"),
    ({"parameters": {"buffers.nobuffer.size_kib": [8]}}, "no entry named 'nobuffer'"),
    ({"metrics": ["speed"]}, "metrics[0]"),
    ({"sampling": {"method": "random"}}, "sampling.points"),
    ({"workloads": ["/nonexistent"]}, "no layers.csv"),
    ({"parameters": {"array.rows": [8, 8]}}, "expected each value once"),
    ({"parameters": {"workload.batch": [4, True]}}, "parameters.workload.batch[1]: expected a batch size, an integer from 1 to"),
    ({"parameters": {"workload.batch": [1.5]}}, "got 1.5"),
    ({"parameters": {"workload.batch": [-5]}}, "got -5"),
    ({"parameters": {"workload.mode": ["train"]}}, "expected training or inference"),
    ({"parameters": {"workload.nm": [128]}}, "an N:M pattern"),        # what YAML 1.1 makes of an unquoted 2:8
    ({"parameters": {"array.rows": [8]}, "fixed": {"workload.batch": 0}}, "fixed.workload.batch"),
    ({"parameters": {f"buffers.{b}.size_kib": list(range(1, 1001)) for b in ("input_buffer", "weight_buffer", "output_buffer")}},
     "a grid of 1,000,000,000 points is beyond the limit of 100,000"),
])
def test_bad_specs(tmp_path, change, message):
    with pytest.raises(InputError) as info:
        load_spec(write_spec(tmp_path, **change))
    assert message in str(info.value) and "spec.yaml" in str(info.value)


def test_broken_point_is_reported_and_the_rest_complete(tmp_path):
    spec = load_spec(write_spec(tmp_path, parameters={"array.rows": [8, -4, 16]}))
    counts = run_sweep(spec, tmp_path / "r.csv", workers=1, progress=False)
    table = pd.read_csv(tmp_path / "r.csv")
    assert counts == {"points": 3, "run": 3, "skipped": 0, "failed": 1}
    broken = table[table["array.rows"] == -4].iloc[0]
    assert broken.status == "error" and "array.rows" in broken.error and "from 1 to 4,096" in broken.error
    assert pd.isna(broken.cycles)
    assert (table[table["array.rows"] != -4].status == "ok").all()


PATHS = ["array.rows", "array.cols", "clock_mhz", "dram.channels", "buffers.input_buffer.size_kib",
         "buffers.input_buffer.banks", "buffers.weight_buffer.size_kib", "sparsity.nm_patterns", "sparsity.max_m",
         "dataflow_options.interleave", "array.mac_pipeline_stages"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(PATHS), st.one_of(st.integers(-5, 5000), st.lists(st.text(max_size=3))),
                       max_size=len(PATHS)))
def test_an_arch_with_values_is_a_deep_copy_with_them_set_and_leaves_the_base_alone(values):
    base = yaml.safe_load(SAT.read_text())
    before = copy.deepcopy(base)
    expected = copy.deepcopy(base)
    for path, value in values.items():
        set_path(expected, path, value)
    assert with_values(base, values) == expected
    assert base == before


VALUES = st.one_of(st.integers(-5, 5000), st.floats(allow_nan=False), st.booleans(), st.none(), st.text(max_size=3),
                   st.lists(st.sampled_from(["2:4", "2:8", "dense", "x"]), max_size=3),
                   st.dictionaries(st.sampled_from(["rows", "name", "size_kib"]), st.integers(0, 64), max_size=2))


@functools.cache
def sat_variants() -> ArchVariants:
    return ArchVariants(SAT)


VALID = {"array.rows": [4, 64], "array.cols": [8, 16], "clock_mhz": [100, 250.5], "dram.channels": [1, 4],
         "buffers.input_buffer.size_kib": [512, 4096], "buffers.input_buffer.banks": [1, 32],
         "buffers.weight_buffer.size_kib": [1024], "sparsity.nm_patterns": [["dense", "2:8"], ["dense", "2:4", "2:8"]],
         "sparsity.max_m": [8, 16], "dataflow_options.interleave": [True, False], "array.mac_pipeline_stages": [1, 3]}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_arch_variant_is_the_arch_the_whole_file_builds_or_fails_as_it_does(data):
    # the reference: the base arch's YAML with the values set, built whole by typed_yaml.build;
    # values a schema accepts (3 in 4) and values of every kind, and at times a whole section
    paths = data.draw(st.lists(st.sampled_from(PATHS), unique=True, max_size=4))
    paths += data.draw(st.lists(st.sampled_from(["array", "buffers", "dram", "name", "description"]), max_size=1))
    values = {p: data.draw(st.sampled_from(VALID[p]) if p in VALID and data.draw(st.integers(0, 3)) else VALUES)
              for p in paths}
    def outcome(make):
        try:
            return make()
        except (InputError, KeyError) as exc:   # KeyError: a path into a value set to a non-mapping
            return type(exc).__name__, str(exc)

    variants = sat_variants()
    whole = outcome(lambda: build(Arch, with_values(variants.data, values), str(SAT), "(point p)"))
    event("built" if isinstance(whole, Arch) else whole[0])
    assert outcome(lambda: variants.arch(values, "(point p)")) == whole


def test_the_arch_variants_of_a_bundled_sweep_are_the_archs_their_files_build():
    spec = load_spec(ROOT / "sweeps" / "sat_array.yaml")
    variants = ArchVariants(spec.arch_path())
    base = read_yaml(spec.arch_path())
    for point in design_points(spec)[::9]:
        values = {**spec.fixed, **dict(point.params)}
        assert variants.arch(values, "") == build(Arch, with_values(base, values), "")


def test_an_arch_variant_of_a_broken_base_arch_is_built_whole(tmp_path, sat_data, write_yaml):
    sat_data["array"]["rows"] = -4
    variants = ArchVariants(write_yaml(sat_data))
    assert variants.base is None
    assert variants.arch({"array.rows": 16}, "(point p)") == replace(load_arch(SAT), array=replace(load_arch(SAT).array, rows=16))
    with pytest.raises(InputError, match=r"\(point p\)\.array\.rows: expected"):
        variants.arch({"dram.channels": 2}, "(point p)")


def test_points_sharing_an_arch_or_a_workload_give_the_rows_of_a_fresh_evaluation(tmp_path):
    # a worker builds each distinct arch and workload once (points differing only in the batch share
    # the arch, points differing only in the rows share the workload); the rows are those of points
    # evaluated alone from the YAML and the trace folder
    from sparseloom.explore import evaluate

    spec = load_spec(write_spec(tmp_path, parameters={"array.rows": [8, 16], "workload.batch": [1, 3],
                                                      "workload.nm": ["2:8", "2:4"]}))
    points = design_points(spec)

    def fresh(point):
        for store in (evaluate._loaded, evaluate._archs, evaluate._workloads):
            store.clear()
        return evaluate.evaluate(spec, point)

    alone = [fresh(p) for p in points]
    evaluate._archs.clear()
    evaluate._workloads.clear()
    shared = evaluate.evaluate_many(spec, points)
    assert [{**r, "seconds": 0} for r in shared] == [{**r, "seconds": 0} for r in alone]
    assert len(evaluate._archs) == 2 and len(evaluate._workloads) == 4
    assert all(r["status"] == "ok" for r in shared) and len({r["cycles"] for r in shared}) == 8
    a, b = (evaluate.point_inputs(spec, p) for p in points[0:3:2])   # 8 rows, 2:8; batch 1 and 3
    assert a[0] is b[0] and a[1] is not b[1] and (a[1].meta.batch_size, b[1].meta.batch_size) == (1, 3)


def test_a_point_whose_arch_fails_names_itself_not_an_earlier_point(tmp_path):
    spec = load_spec(write_spec(tmp_path, parameters={"workload.batch": [1, 2]}, fixed={"array.rows": -4}))
    rows = run_sweep(spec, tmp_path / "r.csv", workers=1, progress=False)
    table = pd.read_csv(tmp_path / "r.csv")
    assert rows["failed"] == 2
    assert all(f"(point {key})" in error and "array.rows" in error for key, error in zip(table.key, table.error))


def test_resume_after_a_kill_loses_and_repeats_nothing(tmp_path):
    spec_path = write_spec(tmp_path, parameters={"array.rows": [4, 8, 16, 32], "array.cols": [4, 8, 16, 32],
                                                 "dram.channels": [1, 2, 4]})
    out = tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "sparseloom.apps.sweep", spec_path, "-o", str(out), "--workers", "1"],
                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or out.read_text().count("\n") < 6):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {row["key"]: row for row in csv.DictReader(open(out)) if row.get("trace_sha256")}
    assert 5 <= len(before) < 48
    counts = run_sweep(load_spec(spec_path), out, workers=1, progress=False)
    assert counts["run"] == 48 - counts["skipped"] and counts["skipped"] >= len(before)
    after = list(csv.DictReader(open(out)))
    keys = [row["key"] for row in after]
    assert len(keys) == len(set(keys)) == 48                           # nothing lost, nothing twice
    for row in after:
        if row["key"] in before:
            assert row == before[row["key"]]                           # finished rows untouched


def test_dask_local_cluster_gives_the_local_table(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    spec = load_spec(write_spec(tmp_path))
    run_sweep(spec, tmp_path / "local.csv", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run_sweep(spec, tmp_path / "dask.csv", scheduler=client, progress=False)
    pd.testing.assert_frame_equal(read(tmp_path / "local.csv"), read(tmp_path / "dask.csv"))


def test_area_model():
    sat = load_arch(SAT)
    a = area(sat)
    bigger = area(replace(sat, array=replace(sat.array, rows=64)))
    assert bigger["lut"] == pytest.approx(2 * a["lut"], rel=0.01) and bigger["dsp"] == 2 * a["dsp"]
    assert a["dsp"] == sat.pes                                          # one multiplier per PE
    # 4 MiB input (32 banks), 2 MiB weight and output buffers in 4.5 KiB block RAMs
    assert a["bram"] == 911 + 456 + 456
    wide = area(replace(sat, sparsity=replace(sat.sparsity, max_m=32)))
    assert wide["lut"] > a["lut"]                                       # a 32:1 multiplexer costs more


def test_sweep_report(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    run_sweep(spec, tmp_path / "r.csv", workers=1, progress=False)
    from sparseloom.apps.sweep_report import write_report

    md = write_report(spec, tmp_path / "r.csv", tmp_path / "report")
    text = md.read_text()
    assert "Pareto front" in text and "Sensitivity" in text and "Best point" in text
    for png in ("sensitivity.png", "best_layers.png", "pareto_time_ms_energy_uj.png"):
        assert (tmp_path / "report" / png).read_bytes()[:4] == b"\x89PNG"
    assert "<table>" in (tmp_path / "report" / "t.html").read_text()


def test_area_model_prices_every_dataflow():
    from dataclasses import replace

    from sparseloom.arch.schema import load_arch
    from sparseloom.dataflow.flows import NAMES
    from sparseloom.explore.area import area

    from .conftest import SAT

    sat = load_arch(SAT)
    ws_only = area(replace(sat, array=replace(sat.array, dataflows=["weight_stationary"])))
    is_only = area(replace(sat, array=replace(sat.array, dataflows=["input_stationary"])))
    every = area(replace(sat, array=replace(sat.array, dataflows=list(NAMES))))
    assert is_only == ws_only                                   # priced as weight-stationary PEs
    assert every["lut"] >= max(ws_only["lut"], area(sat)["lut"]) > 0


def rows_of(path) -> list[dict]:
    return [row for row in csv.DictReader(open(path)) if row.get("trace_sha256")]   # complete rows only


def children(pid: int) -> set[int]:
    return {int(c) for task in os.listdir(f"/proc/{pid}/task")
            for c in open(f"/proc/{pid}/task/{task}/children").read().split()}


def wait_for_rows(out, count: int, proc) -> int:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and (not out.exists() or len(rows_of(out)) < count):
        time.sleep(0.02)
    return len(rows_of(out))


BIG = 200
"""Points of big_spec: ResNet-50 in the event fidelity (tens of ms a point), so a sweep
interrupted after its first rows has most still to run however fast the machine."""


def big_spec(tmp_path) -> str:
    return write_spec(tmp_path, workloads=[str(RESNET50_2OF8)], fidelity="event",
                      parameters={"array.rows": [4, 8, 16, 32, 64], "array.cols": [4, 8, 16, 32, 64],
                                  "dram.channels": [1, 2, 4, 8], "clock_mhz": [150, 200]}, metrics=["cycles", "time_ms"])


def _in_a_terminal() -> None:
    """Ctrl-C's default action, as a command typed at a terminal has it (a job a shell starts in the
    background, as CI may run the tests, inherits SIGINT ignored, and Python then keeps it so)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_cancels_queued_points_keeps_finished_rows_and_the_rerun_completes_the_rest(tmp_path):
    spec_path, out = big_spec(tmp_path), tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "sparseloom.apps.sweep", spec_path, "-o", str(out), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_in_a_terminal)
    seen = wait_for_rows(out, 10, proc)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = rows_of(out)
    chunk = BIG // (2 * 8)                      # the runner's chunk size for BIG points on 2 workers
    assert proc.returncode == 130 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"sweep: interrupted: {len(kept)} of {BIG} points are in {out}")
    assert seen <= len(kept) <= seen + 2 * chunk < BIG      # queued points did not run after the signal
    assert not any(os.path.exists(f"/proc/{w}") and "zombie" not in open(f"/proc/{w}/status").read().lower()
                   for w in workers)           # the workers are gone
    counts = run_sweep(load_spec(spec_path), out, workers=1, progress=False)
    after = {row["key"]: row for row in rows_of(out)}
    assert len(after) == BIG and all(after[row["key"]] == row for row in kept)
    # the only failures are the arrays larger than SAT's XCVU9P (64x32 and up)
    failed = [row for row in after.values() if row["status"] != "ok"]
    assert failed and all("does not fit" in row["error"] for row in failed)
    rerun_failed = sum(row["status"] != "ok" for key, row in after.items() if key not in {r["key"] for r in kept})
    assert counts == {"points": BIG, "run": BIG - len(kept), "skipped": len(kept), "failed": rerun_failed}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_sweep_takes_its_workers_with_it(tmp_path):
    spec_path, out = big_spec(tmp_path), tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "sparseloom.apps.sweep", spec_path, "-o", str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_rows(out, 3, proc)
    workers = children(proc.pid)
    assert workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 60                # they poll for their parent every half second
    while time.time() < deadline and any(os.path.exists(f"/proc/{w}") for w in workers):
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{w}") for w in workers)


def test_a_changed_fixed_value_is_not_resumed_from_old_rows(tmp_path):
    out = tmp_path / "r.csv"
    parameters = {"array.rows": [8, 16], "dram.channels": [1, 2]}
    old = load_spec(write_spec(tmp_path, parameters=parameters, fixed={"array.accumulator_latency_cycles": 4}))
    assert run_sweep(old, out, workers=1, progress=False)["run"] == 4
    new = load_spec(write_spec(tmp_path, parameters=parameters, fixed={"array.accumulator_latency_cycles": 5}))
    with pytest.raises(InputError) as info:
        run_sweep(new, out, workers=1, progress=False)
    assert "4 of its 4 rows were made from other inputs" in str(info.value) and "the arch" in str(info.value)
    assert len(rows_of(out)) == 4                                       # the old results are left as they were
    assert run_sweep(new, out, workers=1, progress=False, fresh=True) == {"points": 4, "run": 4, "skipped": 0, "failed": 0}
    # the base arch's contents count too, not only its path
    edited = tmp_path / "sat.yaml"
    edited.write_text(SAT.read_text().replace("clock_mhz: 200", "clock_mhz: 210"))
    moved = load_spec(write_spec(tmp_path, parameters=parameters, base_arch=str(edited),
                                 fixed={"array.accumulator_latency_cycles": 5}))
    with pytest.raises(InputError, match="the arch"):
        run_sweep(moved, out, workers=1, progress=False)


def test_results_are_byte_identical_across_runs_and_carry_their_provenance(tmp_path):
    spec = load_spec(write_spec(tmp_path, parameters={"array.rows": [8, 16, 32], "dram.channels": [1, 2]}))
    run_sweep(spec, tmp_path / "a.csv", workers=2, progress=False, timing=tmp_path / "a.seconds.csv")
    run_sweep(spec, tmp_path / "b.csv", workers=2, progress=False)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    table = pd.read_csv(tmp_path / "a.csv")
    assert table.cycles.dtype.kind == "i" and "seconds" not in table
    assert set(table.fidelity) == {"analytic"} and table.version.nunique() == 1 and table.arch_sha256.nunique() == 6
    assert len(pd.read_csv(tmp_path / "a.seconds.csv")) == 6


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="workers inherit the loads only when forked")
def test_forked_workers_start_with_the_trace_loaded(tmp_path, monkeypatch):
    """The trace (masks read and checked) is loaded once, in the sweep's process, not once per worker."""
    from sparseloom.explore import evaluate

    loads = tmp_path / "loads"

    def load_workload(folder):
        with open(loads, "a") as f:
            f.write(f"{os.getpid()}\n")
        return original(folder)

    original = evaluate.load_workload
    for store in ("_loaded", "_archs", "_workloads"):
        monkeypatch.setattr(evaluate, store, {})
    monkeypatch.setattr(evaluate, "load_workload", load_workload)
    counts = run_sweep(load_spec(write_spec(tmp_path)), tmp_path / "r.csv", workers=2, progress=False)
    assert counts == {"points": 12, "run": 12, "skipped": 0, "failed": 0}
    assert loads.read_text().split() == [str(os.getpid())]


def test_a_second_writer_is_refused(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    spec, out = load_spec(write_spec(tmp_path)), tmp_path / "r.csv"
    with open(out, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another sweep is writing this results file"):
            run_sweep(spec, out, workers=1, progress=False)


@pytest.mark.parametrize("args, message", [
    (["--workers", "-1"], "--workers: expected 1 to 256 worker processes, got -1"),
    (["--workers", "1000000"], "--workers: expected 1 to 256"),
    (["-o", "/dev/full"], "found a device or special file"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers: does not apply with --scheduler"),
])
def test_sweep_command_errors_are_one_line(tmp_path, capsys, args, message):
    from sparseloom.apps.sweep import main

    assert main([write_spec(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_dask_cluster_without_workers_stops_the_sweep(tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    from sparseloom.explore import runner

    monkeypatch.setattr(runner, "NO_WORKER_TIMEOUT", 1.0)
    spec, out = load_spec(write_spec(tmp_path)), tmp_path / "r.csv"
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with pytest.raises(InputError, match="no workers for 1 s: sweep stopped"):
            run_sweep(spec, out, scheduler=client, progress=False)
    assert rows_of(out) == []


def test_the_report_orders_n_m_by_density_and_separates_training_from_inference(tmp_path):
    from html.parser import HTMLParser

    from sparseloom.apps.sweep_report import write_report

    patterns = ["1:16", "2:8", "dense", "1:32", "2:4", "1:8"]          # given out of order on purpose
    spec = load_spec(write_spec(tmp_path, parameters={"workload.nm": patterns, "workload.mode": ["inference", "training"],
                                                      "dram.channels": [1, 2]},
                                # 32:1 multiplexers: a 32x32 SAT array would not fit its XCVU9P
                                fixed={"sparsity.nm_patterns": patterns, "sparsity.max_m": 32, "array.cols": 16},
                                metrics=["time_ms", "cycles", "stall_buffer", "stall_dram", "energy_uj"]))
    run_sweep(spec, tmp_path / "r.csv", workers=1, progress=False)
    text = write_report(spec, tmp_path / "r.csv", tmp_path / "report").read_text()
    bottleneck = text[text.index("## Where the bottleneck goes"):]
    rows = [line.split(" | ")[1] for line in bottleneck.splitlines() if line.startswith("| 1 |")]   # dram.channels 1
    assert rows == ["dense", "2:4", "2:8", "1:8", "1:16", "1:32"]      # N/M falling: 1, 1/2, 1/4, 1/8, 1/16, 1/32
    pareto = text[text.index("## Pareto front: energy"):text.index("## Sensitivity")]
    assert "### inference" in pareto and "### training" in pareto     # one front per mode
    assert "Provenance: results made by sparseloom" in text

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.text, self.tables_in_scrollers = [], [], 0

        def handle_starttag(self, tag, attrs):
            if tag == "table" and self.stack and self.stack[-1] == ("div", "wide"):
                self.tables_in_scrollers += 1
            self.stack.append((tag, dict(attrs).get("class")))

        def handle_endtag(self, tag):
            self.stack.pop()

        def handle_data(self, data):
            if not any(t == "code" for t, _ in self.stack):
                self.text.append(data)

    page = Page()
    page.feed((tmp_path / "report" / "t.html").read_text())
    assert "`" not in "".join(page.text)                                 # inline code rendered, not literal
    assert page.tables_in_scrollers == text.count("\n|---")              # every table scrolls inside the page


def test_a_report_with_failed_points_prints_the_integer_metrics_of_the_others_as_integers(tmp_path):
    """A failed point leaves its metric cells blank; the points that ran still show whole LUT and
    cycle counts (not 1.105e+06), and the report counts the point that does not fit."""
    from sparseloom.apps.sweep_report import write_report

    spec = load_spec(write_spec(tmp_path, parameters={"array.rows": [16, 64]}, fixed={"array.cols": 64}))
    run_sweep(spec, tmp_path / "r.csv", workers=1, progress=False)
    text = write_report(spec, tmp_path / "r.csv", tmp_path / "report").read_text()
    ok = read(tmp_path / "r.csv").query("status == 'ok'").iloc[0]
    assert "1 ok, 1 failed (1 of them larger than their FPGA)" in text
    best = text[text.index("## Best point"):]
    assert f"| {int(ok.lut)} |" in best and f"| {int(ok.cycles)} |" in best
