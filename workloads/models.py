"""Analytic layer tables of the models the SAT paper evaluates (shapes only, no weights).

Every table is in the layout of the reference implementation it names, padding included:
torchvision ResNet-50/18 at 224x224, the CIFAR-style ResNet-18 stem (3x3, stride 1, no max-pool),
the DAWNBench ResNet-9, the CIFAR VGG-19 with one classifier layer, and DeiT-Small (ViT-S/16).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..arch.schema import NMPattern
from .trace import Layer, nm_for


def conv(name: str, C: int, K: int, k: int, stride: int, pad: int, H: int, groups: int = 1) -> Layer:
    return Layer(name, "conv", C, K, k, k, stride, pad, H, H, groups)


def linear(name: str, C: int, K: int, tokens: int = 1) -> Layer:
    return Layer(name, "linear", C, K, H=tokens)


def matmul(name: str, rows: int, reduce: int, cols: int, heads: int) -> Layer:
    """``heads`` independent [rows x reduce] @ [reduce x cols] products."""
    return Layer(name, "matmul", reduce * heads, cols * heads, H=rows, groups=heads)


def resnet50(classes: int = 1000) -> list[Layer]:
    """torchvision ResNet-50 (v1.5: stride on the 3x3 conv) at 224x224."""
    layers = [conv("conv1", 3, 64, 7, 2, 3, 224)]
    size, inplanes = 56, 64
    for stage, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            p = f"layer{stage}.{b}"
            layers += [conv(f"{p}.conv1", inplanes, planes, 1, 1, 0, size),
                       conv(f"{p}.conv2", planes, planes, 3, s, 1, size),
                       conv(f"{p}.conv3", planes, planes * 4, 1, 1, 0, size // s)]
            if b == 0:
                layers.append(conv(f"{p}.downsample", inplanes, planes * 4, 1, s, 0, size))
            inplanes, size = planes * 4, size // s
    return layers + [linear("fc", 2048, classes)]


def resnet18(classes: int = 1000, image: int = 224, cifar_stem: bool = False) -> list[Layer]:
    """torchvision ResNet-18, or with the CIFAR stem (3x3 stride-1 conv, no max-pool)."""
    if cifar_stem:
        layers, size = [conv("conv1", 3, 64, 3, 1, 1, image)], image
    else:
        layers, size = [conv("conv1", 3, 64, 7, 2, 3, image)], image // 4
    inplanes = 64
    for stage, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
        for b in range(2):
            s = stride if b == 0 else 1
            p = f"layer{stage}.{b}"
            layers += [conv(f"{p}.conv1", inplanes, planes, 3, s, 1, size),
                       conv(f"{p}.conv2", planes, planes, 3, 1, 1, size // s)]
            if b == 0 and (s != 1 or inplanes != planes):
                layers.append(conv(f"{p}.downsample", inplanes, planes, 1, s, 0, size))
            inplanes, size = planes, size // s
    return layers + [linear("fc", 512, classes)]


def resnet9(classes: int = 10) -> list[Layer]:
    """The DAWNBench CIFAR-10 ResNet-9 (prep, three stages with max-pool, two residual stages)."""
    return [conv("prep", 3, 64, 3, 1, 1, 32),
            conv("layer1.conv", 64, 128, 3, 1, 1, 32),
            conv("layer1.res1", 128, 128, 3, 1, 1, 16),
            conv("layer1.res2", 128, 128, 3, 1, 1, 16),
            conv("layer2.conv", 128, 256, 3, 1, 1, 16),
            conv("layer3.conv", 256, 512, 3, 1, 1, 8),
            conv("layer3.res1", 512, 512, 3, 1, 1, 4),
            conv("layer3.res2", 512, 512, 3, 1, 1, 4),
            linear("fc", 512, classes)]


def vgg19(classes: int = 10) -> list[Layer]:
    """VGG-19 with batch norm for 32x32 inputs and a single 512->classes classifier."""
    layers, size, channels, index = [], 32, 3, 0
    for stage, (width, count) in enumerate([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)], 1):
        for i in range(count):
            layers.append(conv(f"features.{stage}.{i}", channels, width, 3, 1, 1, size))
            channels, index = width, index + 1
        size //= 2
    return layers + [linear("classifier", 512, classes)]


def deit_small(classes: int = 1000, depth: int = 12) -> list[Layer]:
    """DeiT-Small / ViT-S/16 at 224x224: 197 tokens, width 384, 6 heads of 64, MLP 1536."""
    tokens, dim, heads = 197, 384, 6
    layers = [conv("patch_embed", 3, dim, 16, 16, 0, 224)]
    for b in range(depth):
        p = f"blocks.{b}"
        layers += [linear(f"{p}.qkv", dim, 3 * dim, tokens),
                   matmul(f"{p}.attn_qk", tokens, dim // heads, tokens, heads),
                   matmul(f"{p}.attn_av", tokens, tokens, dim // heads, heads),
                   linear(f"{p}.proj", dim, dim, tokens),
                   linear(f"{p}.fc1", dim, 4 * dim, tokens),
                   linear(f"{p}.fc2", 4 * dim, dim, tokens)]
    return layers + [linear("head", dim, classes)]


MODELS: dict[str, tuple[Callable[[], list[Layer]], str, list[int]]] = {
    "resnet50": (resnet50, "imagenet", [3, 224, 224]),
    "resnet18": (resnet18, "imagenet", [3, 224, 224]),
    "resnet18_cifar100": (lambda: resnet18(100, 32, cifar_stem=True), "cifar100", [3, 32, 32]),
    "resnet18_tinyimagenet": (lambda: resnet18(200, 64, cifar_stem=True), "tinyimagenet", [3, 64, 64]),
    "resnet9": (resnet9, "cifar10", [3, 32, 32]),
    "vgg19": (vgg19, "cifar10", [3, 32, 32]),
    "deit_small": (deit_small, "imagenet", [3, 224, 224]),
}
"""Model name -> (layer table, dataset, input shape C,H,W)."""


def sparsify(layers: list[Layer], method: str, pattern: NMPattern) -> list[Layer]:
    """Set each layer's forward/backward patterns for a sparse-training method.

    ``srste`` prunes the forward copy only; ``bdwp`` also the backward-data copy, whose groups
    run along the output channels. A dimension M does not divide stays dense; activation-
    activation matmuls stay dense. The first layer gets no input gradient.
    """
    dense = NMPattern(1, 1)
    out = []
    for i, layer in enumerate(layers):
        fwd = bwd = dense
        if layer.has_weights and method in ("srste", "bdwp"):
            fwd = nm_for(layer.C // layer.groups, pattern)
            if method == "bdwp":
                bwd = nm_for(layer.K // layer.groups, pattern)
        out.append(replace(layer, fwd_nm=fwd, bwd_nm=bwd, input_grad=0 if i == 0 else 1))
    return out
