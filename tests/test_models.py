"""Analytic layer tables against published facts and first principles."""
from __future__ import annotations

import pytest

from sparseloom.arch.schema import NMPattern
from sparseloom.workloads.models import deit_small, resnet9, resnet18, resnet50, sparsify, vgg19


def test_resnet50_torchvision_facts():
    layers = resnet50()
    assert len(layers) == 54
    assert sum(layer.macs_per_sample for layer in layers) == 4_089_184_256
    assert sum(layer.weights for layer in layers) == 25_502_912
    assert len({(l.C, l.K, l.R, l.S, l.stride, l.pad, l.H, l.W) for l in layers}) == 24


@pytest.mark.parametrize("table, weights, gmacs", [
    (resnet18, 11_678_912, 1.814),            # torchvision: 11.69 M params incl. BN/bias, 1.81 GMAC
    (deit_small, 21_912_576, 4.599),          # DeiT-S: 22 M params, 4.6 GMAC
    (vgg19, 20_024_000, 0.398),               # CIFAR VGG-19: 20.0 M conv+FC weights
    (resnet9, 6_568_640, 0.379),
])
def test_other_tables(table, weights, gmacs):
    layers = table()
    assert sum(layer.weights for layer in layers) == weights
    assert sum(layer.macs_per_sample for layer in layers) / 1e9 == pytest.approx(gmacs, abs=1e-3)


def test_output_sizes_follow_padding():
    layers = {l.name: l for l in resnet50()}
    assert (layers["conv1"].P, layers["conv1"].Q) == (112, 112)
    assert layers["layer2.0.conv2"].P == 28 and layers["layer4.2.conv3"].P == 7


def test_bdwp_patterns():
    layers = sparsify(resnet50(), "bdwp", NMPattern(2, 8))
    assert layers[0].input_grad == 0 and all(l.input_grad for l in layers[1:])
    assert layers[0].fwd_nm.dense                        # 3 channels
    fc = layers[-1]
    assert fc.fwd_nm == fc.bwd_nm == NMPattern(2, 8)     # 2048 in, 1000 out: both divisible by 8
    srste = sparsify(resnet50(), "srste", NMPattern(2, 8))
    assert all(l.bwd_nm.dense for l in srste)


def test_small_heads_stay_dense():
    head = sparsify(vgg19(), "bdwp", NMPattern(2, 8))[-1]
    assert head.fwd_nm == NMPattern(2, 8) and head.bwd_nm.dense     # 10 classes: no groups of 8
    attention = [l for l in sparsify(deit_small(), "bdwp", NMPattern(2, 8)) if l.kind == "matmul"]
    assert attention and all(l.fwd_nm.dense and l.bwd_nm.dense for l in attention)
