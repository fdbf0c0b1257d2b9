"""The trace format: committed traces load, round-trip, and bad traces get clear errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from sparseloom.arch.schema import NMPattern
from sparseloom.core.errors import InputError
from sparseloom.workloads.build import TRACES, make_trace
from sparseloom.workloads.masks import checksum, masks_bytes, weight_shape
from sparseloom.workloads.ops import ops_csv
from sparseloom.workloads.trace import load_workload, write_workload

from .conftest import RESNET50_2OF8, ROOT, edit_file


def test_committed_traces_match_their_generator(tmp_path):
    # the committed folders are exactly what `python -m sparseloom.workloads.build` writes,
    # seeded masks bit for bit, operators included
    for spec in TRACES:
        folder = ROOT / "workloads" / spec[0]
        committed = load_workload(folder)
        fresh, blob = make_trace(*spec)
        assert committed.layers == fresh.layers, spec[0]
        assert committed.meta == fresh.meta, spec[0]
        assert fresh.ops and committed.ops == fresh.ops, spec[0]
        assert (folder / "ops.csv").read_text() == ops_csv(fresh.ops)
        if blob is None:
            assert not (folder / "masks.npz").exists()
        else:
            assert (folder / "masks.npz").read_bytes() == blob


def test_committed_masks_satisfy_their_patterns():
    w = load_workload(RESNET50_2OF8)
    masks = w.masks()                                     # loading validates N:M in each direction
    assert w.meta.provenance.masks == "seeded" and w.meta.provenance.seed == 0
    assert checksum(masks) in w.meta.provenance.source
    expected = {(l.name, d) for l in w.layers for d, p in (("fwd", l.fwd_nm), ("bwd", l.bwd_nm)) if not p.dense}
    assert set(masks) == expected
    for (name, direction), mask in masks.items():
        layer = next(l for l in w.layers if l.name == name)
        pattern = layer.fwd_nm if direction == "fwd" else layer.bwd_nm
        assert mask.shape == weight_shape(layer)
        assert mask.sum() == mask.size * pattern.n // pattern.m      # exactly N of every M (magnitude top-N)
    fwd, bwd = masks[("layer1.0.conv1", "fwd")], masks[("layer1.0.conv1", "bwd")]
    assert (fwd != bwd).any()                                        # BDWP's two masks differ


def test_corrupted_mask_is_rejected(tmp_path):
    folder = tmp_path / "trace"
    shutil.copytree(RESNET50_2OF8, folder)
    masks = load_workload(folder).masks()
    masks[("layer1.0.conv1", "fwd")] = np.ones_like(masks[("layer1.0.conv1", "fwd")])
    (folder / "masks.npz").write_bytes(masks_bytes(masks))
    with pytest.raises(InputError) as info:
        load_workload(folder).masks()
    message = str(info.value)
    assert "masks.npz: layer1.0.conv1/fwd" in message and "keep more than 2 of 8 along input channels" in message


def test_trace_command(tmp_path, capsys):
    from sparseloom.apps.trace import main

    assert main(["resnet9", "--nm", "1:8", "--source", "seeded", "--seed", "3", "-o", str(tmp_path / "r9")]) == 0
    w = load_workload(tmp_path / "r9")
    assert w.meta.sparsity.nm == "1:8" and w.meta.provenance.seed == 3
    assert len(w.masks()) == 16     # 7 convs x 2 directions, the stem's backward copy, the head's forward copy
    assert main(["resnet9", "--nm", "8:2", "-o", str(tmp_path / "x")]) == 2


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
    assert again.layers == w.layers and again.meta == w.meta and again.ops == w.ops and len(w.ops) == 121


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
    edit_file(trace_copy / "layers.csv", old, new)
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


def test_scalesim_import_and_round_trip(tmp_path):
    from sparseloom.workloads.models import resnet50
    from sparseloom.workloads.scalesim import read_scalesim, write_scalesim

    peer = ROOT.parent / "shared" / "reference" / "scalesim" / "Resnet50.csv"
    if peer.exists():                                 # SCALE-Sim's own ResNet-50: no padding
        layers = read_scalesim(peer)
        assert len(layers) == 54 and sum(l.macs_per_sample for l in layers) == pytest.approx(3.41e9, rel=1e-3)
    write_scalesim(resnet50(), tmp_path / "r50.csv")  # padded inputs keep torchvision's output sizes
    again = read_scalesim(tmp_path / "r50.csv")
    assert sum(l.macs_per_sample for l in again) == 4_089_184_256
    (tmp_path / "bad.csv").write_text("Layer name, IFMAP Height\nx, 3\n")
    with pytest.raises(InputError, match="bad.csv: header"):
        read_scalesim(tmp_path / "bad.csv")


def test_trace_from_scalesim(tmp_path):
    from sparseloom.apps.trace import main
    from sparseloom.workloads.models import resnet18
    from sparseloom.workloads.scalesim import write_scalesim

    write_scalesim(resnet18(), tmp_path / "r18.csv")
    assert main([str(tmp_path / "r18.csv"), "--nm", "2:4", "-o", str(tmp_path / "t"),
                 "--export-scalesim", str(tmp_path / "again.csv")]) == 0
    w = load_workload(tmp_path / "t")
    assert len(w.layers) == 21 and "imported from" in w.meta.provenance.source
    assert (tmp_path / "again.csv").read_text() == (tmp_path / "r18.csv").read_text()


@pytest.mark.parametrize("folder", sorted(p.name for p in (ROOT / "workloads").iterdir() if (p / "masks.npz").exists()))
def test_every_committed_mask_satisfies_its_pattern(folder):
    w = load_workload(ROOT / "workloads" / folder)
    masks = w.masks()                     # raises on a group keeping more than N of M in its direction
    assert masks and checksum(masks) in w.meta.provenance.source
