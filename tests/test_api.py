"""The public API: ``import sparseloom`` and its names, checked against first principles where a
number is involved (MACs scale with the batch) and against the installed metadata."""
from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import pytest

import sparseloom
from sparseloom.core.errors import InputError


def test_every_public_name_exists_and_says_what_it_does():
    assert sparseloom.__version__ == version("sparseloom")
    assert (Path(sparseloom.__file__).parent / "py.typed").exists()
    for name in sparseloom.__all__:
        value = getattr(sparseloom, name)
        if name != "__version__":
            assert inspect.getdoc(value), name
    with pytest.raises(AttributeError):
        sparseloom.not_a_name


def test_names_and_paths_load_the_same_files():
    from .conftest import ROOT

    assert sparseloom.load_arch("sat") == sparseloom.load_arch(ROOT / "arch" / "sat.yaml")
    assert sparseloom.load_workload("resnet9_2of8").layers == sparseloom.load_workload(ROOT / "workloads" / "resnet9_2of8").layers
    with pytest.raises(InputError, match="nothere: file not found, or the name of a bundled preset"):
        sparseloom.load_arch("nothere")
    with pytest.raises(InputError, match="expected a batch size >= 1"):
        sparseloom.load_workload("resnet9_2of8", batch=0)


def test_simulate_by_name_scales_dense_macs_with_the_batch():
    one = sparseloom.simulate("sat", sparseloom.load_workload("resnet9_2of8", batch=1))
    eight = sparseloom.simulate("sat", sparseloom.load_workload("resnet9_2of8", batch=8))
    assert isinstance(one, sparseloom.Result)
    assert eight.totals["dense_macs"] == 8 * one.totals["dense_macs"]   # every GEMM's M (or K in WU) is B x P x Q
    off = sparseloom.simulate("sat", "resnet9_2of8", interleave=False)
    assert off.arch.dataflow_options.interleave is False
    bounds = sparseloom.speedup_over_dense(one.arch, one.workload, one)
    assert 1 <= bounds["speedup"] <= bounds["iteration_ideal_speedup"] * (1 + 1e-9)


def test_sweep_from_python(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nbase_arch: sat\nworkloads: [resnet9_2of8]\nparameters: {array.rows: [8, 16]}\n"
                    "sampling: {method: grid}\nmetrics: [cycles]\n")
    assert sparseloom.sweep(spec, tmp_path / "r.csv", workers=1) == {"points": 2, "run": 2, "skipped": 0, "failed": 0}
    assert isinstance(sparseloom.load_spec(spec), sparseloom.SweepSpec)
