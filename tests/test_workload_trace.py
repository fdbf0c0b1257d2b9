"""The trace format: committed traces load, round-trip, and bad traces get clear errors."""
from __future__ import annotations

import shutil

import pytest

from sparseloom.arch.schema import NMPattern
from sparseloom.core.errors import InputError
from sparseloom.workloads.build import TRACES, shape_trace
from sparseloom.workloads.trace import load_workload, write_workload

from .conftest import RESNET50_2OF8, ROOT


def test_committed_traces_match_their_generator(tmp_path):
    # the committed folders are exactly what `python -m sparseloom.workloads.build` writes
    for spec in TRACES:
        committed = load_workload(ROOT / "workloads" / spec[0])
        fresh = shape_trace(*spec)
        assert committed.layers == fresh.layers, spec[0]
        assert committed.meta.sparsity == fresh.meta.sparsity


def test_resnet50_2of8_trace():
    w = load_workload(RESNET50_2OF8)
    assert w.meta.mode == "training" and w.meta.sparsity.method == "bdwp"
    assert len(w.layers) == 54
    stem = w.layers[0]
    assert stem.fwd_nm.dense and stem.input_grad == 0           # 3 input channels: no 2:8 groups
    assert all(layer.fwd_nm == NMPattern(2, 8) for layer in w.layers[1:])
    assert all(layer.bwd_nm == NMPattern(2, 8) for layer in w.layers)


def test_round_trip(tmp_path):
    w = load_workload(RESNET50_2OF8)
    again = load_workload(write_workload(w, tmp_path / "copy"))
    assert again.layers == w.layers and again.meta == w.meta


@pytest.fixture
def trace_copy(tmp_path):
    folder = tmp_path / "trace"
    shutil.copytree(RESNET50_2OF8, folder)
    return folder


def _edit_csv(folder, old: str, new: str):
    path = folder / "layers.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _error(folder) -> str:
    with pytest.raises(InputError) as info:
        load_workload(folder)
    return str(info.value)


def test_missing_column(trace_copy):
    _edit_csv(trace_copy, ",groups,", ",grups,")
    message = _error(trace_copy)
    assert "layers.csv: header" in message and "'grups'" in message


def test_not_an_integer(trace_copy):
    _edit_csv(trace_copy, "layer1.0.conv1,conv,64,", "layer1.0.conv1,conv,sixty-four,")
    message = _error(trace_copy)
    assert "layers.csv: line 3, column C" in message and "expected an integer" in message


def test_bad_pattern(trace_copy):
    _edit_csv(trace_copy, "1,1,2:8,2:8,1", "1,1,2/8,2:8,1")
    assert "column fwd_nm" in _error(trace_copy)


def test_pattern_that_does_not_divide_the_channels(trace_copy):
    _edit_csv(trace_copy, "conv1,conv,3,64,7,7,2,3,224,224,1,1,dense", "conv1,conv,3,64,7,7,2,3,224,224,1,1,2:8")
    message = _error(trace_copy)
    assert "line 2, column fwd_nm" in message and "C channels per group (3)" in message


def test_window_larger_than_the_input(trace_copy):
    _edit_csv(trace_copy, "conv1,conv,3,64,7,7,2,3,224,224", "conv1,conv,3,64,7,7,2,0,4,4")
    assert "line 2, column H" in _error(trace_copy)


def test_density_out_of_range(trace_copy):
    _edit_csv(trace_copy, "2:8,2:8,1,,", "2:8,2:8,1,1.5,")
    assert "column act_density" in _error(trace_copy)


def test_duplicate_layer_name(trace_copy):
    _edit_csv(trace_copy, "layer1.0.conv2,", "layer1.0.conv1,")
    assert "expected unique layer names" in _error(trace_copy)


def test_bad_workload_yaml(trace_copy):
    path = trace_copy / "workload.yaml"
    path.write_text(path.read_text().replace("mode: training", "mode: finetune"))
    message = _error(trace_copy)
    assert "workload.yaml: mode" in message and "training, inference" in message


def test_not_a_folder(tmp_path):
    assert "expected a workload folder" in _error(tmp_path / "missing")
