"""Layer extraction from the plain-torch models equals the analytic layer tables."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sparseloom.workloads.models import MODELS  # noqa: E402
from sparseloom.workloads.torch_models import TORCH_MODELS, extract_layers  # noqa: E402


def shape(layer):
    return (layer.name, layer.kind, layer.C, layer.K, layer.R, layer.S, layer.stride, layer.pad, layer.H, layer.W,
            layer.groups)


@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_extracted_shapes_equal_the_tables(name):
    _, _, input_shape = MODELS[name]
    assert [shape(l) for l in extract_layers(TORCH_MODELS[name](), input_shape)] == [shape(l) for l in MODELS[name][0]()]


def test_trained_digits_pipeline():
    pytest.importorskip("sklearn")
    from sparseloom.arch.schema import NMPattern
    from sparseloom.workloads.digits import train_digits
    from sparseloom.workloads.masks import load_masks, nm_violations

    workload, blob, report = train_digits("bdwp", "2:8", epochs=3)
    assert report["accuracy"] > 0.5
    assert [(l.name, str(l.fwd_nm), str(l.bwd_nm)) for l in workload.layers] == [
        ("conv1", "dense", "2:8"), ("conv2", "2:8", "2:8"), ("fc", "2:8", "dense")]
    for layer in workload.layers:
        assert 0 < layer.act_density <= 1 and 0 < layer.grad_density <= 1
    assert workload.layers[0].act_density < 0.7          # the digits' blank pixels
    assert workload.layers[1].grad_density > 0.99        # batch-norm's backward makes it dense
    assert workload.meta.provenance.masks == "trained"
    import tempfile
    from pathlib import Path

    with tempfile.NamedTemporaryFile(suffix=".npz") as f:
        Path(f.name).write_bytes(blob)
        masks = load_masks(Path(f.name), workload.layers)   # validates N:M per direction
    assert set(masks) == {("conv1", "bwd"), ("conv2", "fwd"), ("conv2", "bwd"), ("fc", "fwd")}
    assert nm_violations(masks[("conv2", "fwd")], NMPattern(2, 8), 1) == 0


def test_committed_trained_traces():
    from sparseloom.workloads.trace import load_workload

    from .conftest import ROOT

    for name, method in (("digits_bdwp_2of8", "bdwp"), ("digits_srste_2of8", "srste")):
        w = load_workload(ROOT / "workloads" / name)
        assert w.meta.sparsity.method == method and w.meta.provenance.masks == "trained"
        assert "test accuracy 0.9" in w.meta.provenance.source
        masks = w.masks()
        assert masks and all(l.act_density is not None for l in w.layers)
        assert [o.kind for o in w.ops] == ["bn", "relu", "bn", "relu", "loss"]     # from the same extraction
        assert all(d == "fwd" for _, d in masks) == (method == "srste")


@pytest.mark.parametrize("model, nm", [("minilm", "2:8"), ("efficientnet_lite0", "1:32")])
def test_committed_pretrained_traces(model, nm):
    import numpy as np

    from sparseloom.workloads.trace import load_workload

    from .conftest import ROOT

    folder = ROOT / "workloads" / f"{model}_{nm.replace(':', 'of')}"
    w = load_workload(folder)
    masks = w.masks()                                  # validates N:M per direction
    assert w.meta.provenance.masks == "pretrained" and masks
    prunable = [l for l in w.layers if l.has_weights]
    assert sum(l.weights for l in prunable) == {"minilm": 10_616_832, "efficientnet_lite0": 4_608_992}[model]
    # real masks are not uniform: a backward mask's keep rate per output channel spreads around N/M
    rates = np.concatenate([m.reshape(m.shape[0], -1).mean(1) for (name, d), m in masks.items() if d == "bwd"])
    assert rates.std() > 0
    pytest.importorskip("safetensors" if model == "minilm" else "torch")
    try:
        from sparseloom.workloads.pretrained import pretrained_trace

        fresh, blob = pretrained_trace(model, nm)
    except ModuleNotFoundError:
        pytest.skip("the weight package is not installed")
    assert (folder / "masks.npz").read_bytes() == blob    # regenerated bit for bit from the shipped weights
    assert fresh.layers == w.layers and fresh.meta == w.meta and fresh.ops == w.ops


@pytest.mark.parametrize("name", ["resnet9", "deit_small"])
def test_onnx_import_equals_the_tables(tmp_path, name):
    pytest.importorskip("onnx")
    from sparseloom.workloads.onnx_import import read_onnx

    _, _, input_shape = MODELS[name]
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(TORCH_MODELS[name]().eval(), torch.zeros(1, *input_shape), str(path), dynamo=False)
    def key(layer):
        return shape(layer)[1:]               # names come from the graph's node names
    assert [key(l) for l in read_onnx(path)] == [key(l) for l in MODELS[name][0]()]
