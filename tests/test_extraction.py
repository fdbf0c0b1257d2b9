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
