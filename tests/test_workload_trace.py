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


@pytest.mark.parametrize("old, new, expected", [
    (",groups,", ",grups,", ["layers.csv: header", "missing column 'groups'", "unknown column 'grups'"]),
    ("layer1.0.conv1,conv,64,", "layer1.0.conv1,conv,sixty-four,", ["line 3, column C", "expected an integer"]),
    ("1,1,2:8,2:8,1", "1,1,2/8,2:8,1", ["column fwd_nm", "'N:M'"]),
    ("conv1,conv,3,64,7,7,2,3,224,224,1,1,dense", "conv1,conv,3,64,7,7,2,3,224,224,1,1,2:8",
     ["line 2, column fwd_nm", "C channels per group (3)"]),
    ("conv1,conv,3,64,7,7,2,3,224,224", "conv1,conv,3,64,7,7,2,0,4,4", ["line 2, column H", "fit"]),
    ("2:8,2:8,1,,", "2:8,2:8,1,1.5,", ["column act_density", "between 0 and 1"]),
    ("layer1.0.conv2,", "layer1.0.conv1,", ["expected unique layer names"]),
    ("conv1,conv,", "conv1,deconv,", ["line 2, column kind", "conv, linear or matmul"]),
])
def test_bad_layers_csv(trace_copy, old, new, expected):
    _edit_csv(trace_copy, old, new)
    message = _error(trace_copy)
    assert message.startswith(str(trace_copy / "layers.csv"))
    for text in expected:
        assert text in message


def test_bad_workload_yaml(trace_copy):
    path = trace_copy / "workload.yaml"
    path.write_text(path.read_text().replace("mode: training", "mode: finetune"))
    message = _error(trace_copy)
    assert "workload.yaml: mode" in message and "training, inference" in message


def test_not_a_folder(tmp_path):
    assert "expected a workload folder" in _error(tmp_path / "missing")
