"""Sweeps: specs, sampling, resume after a kill, Dask parity, broken points, the area model, the report."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from sparseloom.arch.schema import load_arch
from sparseloom.core.errors import InputError
from sparseloom.explore.area import area
from sparseloom.explore.points import design_points
from sparseloom.explore.runner import run_sweep
from sparseloom.explore.spec import load_spec

from .conftest import ROOT, SAT


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
    return pd.read_csv(path).drop(columns=["seconds"]).sort_values("key").reset_index(drop=True)


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
    before = {row["key"]: row for row in csv.DictReader(open(out)) if row.get("seconds")}
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
    assert a["dsp"] == sat.pes                                          # one multiplier per int8 PE
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
