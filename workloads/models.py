"""Analytic layer tables of the models the SAT paper evaluates (shapes only, no weights).

Every table is in the layout of the reference implementation it names, padding included:
torchvision ResNet-50/18 at 224x224, the CIFAR-style ResNet-18 stem (3x3, stride 1, no max-pool),
the DAWNBench ResNet-9, the CIFAR VGG-19 with one classifier layer, and DeiT-Small (ViT-S/16).
Each is a :class:`~.network.Network`: the layers, and the non-GEMM operators between them (batch-
norm, ReLU, residual adds, pooling, LayerNorm, softmax, GELU, scaling, the loss) in the execution
order of the plain-torch definitions in ``torch_models.py``, which extraction checks.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..arch.schema import NMPattern
from .network import Network, NetworkBuilder
from .trace import Layer, nm_for


def conv(name: str, C: int, K: int, k: int, stride: int, pad: int, H: int, groups: int = 1) -> Layer:
    return Layer(name, "conv", C, K, k, k, stride, pad, H, H, groups)


def linear(name: str, C: int, K: int, tokens: int = 1) -> Layer:
    return Layer(name, "linear", C, K, H=tokens)


def matmul(name: str, rows: int, reduce: int, cols: int, heads: int) -> Layer:
    """``heads`` independent [rows x reduce] @ [reduce x cols] products."""
    return Layer(name, "matmul", reduce * heads, cols * heads, H=rows, groups=heads)


def resnet50(classes: int = 1000) -> Network:
    """torchvision ResNet-50 (v1.5: stride on the 3x3 conv) at 224x224, with its operators:
    every conv's batch-norm, the ReLUs, the residual adds, the stem max-pool, the global
    average pool and the loss."""
    b = NetworkBuilder()
    _stem(b, conv("conv1", 3, 64, 7, 2, 3, 224), max_pool=True)
    size, inplanes = 56, 64
    for stage, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        for i in range(blocks):
            s = stride if i == 0 else 1
            p = f"layer{stage}.{i}"
            _conv_bn(b, conv(f"{p}.conv1", inplanes, planes, 1, 1, 0, size))
            _conv_bn(b, conv(f"{p}.conv2", planes, planes, 3, s, 1, size))
            out = _conv_bn(b, conv(f"{p}.conv3", planes, planes * 4, 1, 1, 0, size // s), relu=False)
            if i == 0:
                _conv_bn(b, conv(f"{p}.downsample", inplanes, planes * 4, 1, s, 0, size), relu=False)
            b.add(out.outputs)
            b.relu(out.outputs)
            inplanes, size = planes * 4, size // s
    return _head(b, out, linear("fc", 2048, classes))


def resnet18(classes: int = 1000, image: int = 224, cifar_stem: bool = False) -> Network:
    """torchvision ResNet-18, or with the CIFAR stem (3x3 stride-1 conv, no max-pool)."""
    b = NetworkBuilder()
    if cifar_stem:
        _stem(b, conv("conv1", 3, 64, 3, 1, 1, image), max_pool=False)
        size = image
    else:
        _stem(b, conv("conv1", 3, 64, 7, 2, 3, image), max_pool=True)
        size = image // 4
    inplanes = 64
    for stage, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
        for i in range(2):
            s = stride if i == 0 else 1
            p = f"layer{stage}.{i}"
            _conv_bn(b, conv(f"{p}.conv1", inplanes, planes, 3, s, 1, size))
            out = _conv_bn(b, conv(f"{p}.conv2", planes, planes, 3, 1, 1, size // s), relu=False)
            if i == 0 and (s != 1 or inplanes != planes):
                _conv_bn(b, conv(f"{p}.downsample", inplanes, planes, 1, s, 0, size), relu=False)
            b.add(out.outputs)
            b.relu(out.outputs)
            inplanes, size = planes, size // s
    return _head(b, out, linear("fc", 512, classes))


def resnet9(classes: int = 10) -> Network:
    """The DAWNBench CIFAR-10 ResNet-9 (prep, three stages with max-pool, two residual stages),
    as ``torch_models.ResNet9`` runs it: conv-BN-ReLU units, 2x2 max-pools, a global max-pool."""
    b = NetworkBuilder()
    _conv_bn(b, conv("prep", 3, 64, 3, 1, 1, 32))
    for stage, (cin, width, size, residual) in enumerate([(64, 128, 32, True), (128, 256, 16, False),
                                                          (256, 512, 8, True)], 1):
        out = _conv_bn(b, conv(f"layer{stage}.conv", cin, width, 3, 1, 1, size))
        b.op("maxpool", out.outputs, out.outputs // 4)
        if residual:
            _conv_bn(b, conv(f"layer{stage}.res1", width, width, 3, 1, 1, size // 2))
            out = _conv_bn(b, conv(f"layer{stage}.res2", width, width, 3, 1, 1, size // 2))
            b.add(out.outputs)
    b.op("maxpool", out.outputs, out.K)                                   # adaptive max-pool to 1x1
    fc = b.layer(linear("fc", 512, classes))
    b.loss(fc.outputs)
    return b.net


def vgg19(classes: int = 10) -> Network:
    """VGG-19 with batch norm for 32x32 inputs and a single 512->classes classifier."""
    b = NetworkBuilder()
    size, channels = 32, 3
    for stage, (width, count) in enumerate([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)], 1):
        for i in range(count):
            out = _conv_bn(b, conv(f"features.{stage}.{i}", channels, width, 3, 1, 1, size))
            channels = width
        b.op("maxpool", out.outputs, out.outputs // 4)
        size //= 2
    classifier = b.layer(linear("classifier", 512, classes))
    b.loss(classifier.outputs)
    return b.net


def deit_small(classes: int = 1000, depth: int = 12) -> Network:
    """DeiT-Small / ViT-S/16 at 224x224: 197 tokens, width 384, 6 heads of 64, MLP 1536.

    Operators: the position-embedding add (the class-token concat is layout), per block
    LayerNorm, attention's 1/sqrt(64) scale and softmax, the residual add, LayerNorm, GELU, the
    residual add; the final LayerNorm (over all tokens) and the loss. Trained with AdamW."""
    tokens, dim, heads = 197, 384, 6
    b = NetworkBuilder(optimizer="adamw")
    b.layer(conv("patch_embed", 3, dim, 16, 16, 0, 224))
    width = tokens * dim
    b.add(width)                                                          # + position embedding
    for i in range(depth):
        p = f"blocks.{i}"
        b.op("layernorm", width, channels=tokens)
        b.layer(linear(f"{p}.qkv", dim, 3 * dim, tokens))
        scores = b.layer(matmul(f"{p}.attn_qk", tokens, dim // heads, tokens, heads))
        b.op("scale", scores.outputs)
        b.op("softmax", scores.outputs, channels=heads * tokens)
        b.layer(matmul(f"{p}.attn_av", tokens, tokens, dim // heads, heads))
        b.layer(linear(f"{p}.proj", dim, dim, tokens))
        b.add(width)
        b.op("layernorm", width, channels=tokens)
        hidden = b.layer(linear(f"{p}.fc1", dim, 4 * dim, tokens))
        b.op("gelu", hidden.outputs)
        b.layer(linear(f"{p}.fc2", 4 * dim, dim, tokens))
        b.add(width)
    b.op("layernorm", width, channels=tokens)                             # all tokens; the head reads one
    head = b.layer(linear("head", dim, classes))
    b.loss(head.outputs)
    return b.net


def _conv_bn(b: NetworkBuilder, layer: Layer, relu: bool = True) -> Layer:
    """A conv followed by its batch-norm (and ReLU)."""
    b.layer(layer)
    b.bn(layer)
    if relu:
        b.relu(layer.outputs)
    return layer


def _stem(b: NetworkBuilder, layer: Layer, max_pool: bool) -> None:
    _conv_bn(b, layer)
    if max_pool:                                                           # 3x3, stride 2, pad 1
        size = (layer.P + 2 - 3) // 2 + 1
        b.op("maxpool", layer.outputs, layer.K * size * size)


def _head(b: NetworkBuilder, last: Layer, fc: Layer) -> Network:
    """Global average pool of the last block's output, the classifier, the loss."""
    b.op("avgpool", last.outputs, last.K)
    b.layer(fc)
    b.loss(fc.outputs)
    return b.net


MODELS: dict[str, tuple[Callable[[], Network], str, list[int]]] = {
    "resnet50": (resnet50, "imagenet", [3, 224, 224]),
    "resnet18": (resnet18, "imagenet", [3, 224, 224]),
    "resnet18_cifar100": (lambda: resnet18(100, 32, cifar_stem=True), "cifar100", [3, 32, 32]),
    "resnet18_tinyimagenet": (lambda: resnet18(200, 64, cifar_stem=True), "tinyimagenet", [3, 64, 64]),
    "resnet9": (resnet9, "cifar10", [3, 32, 32]),
    "vgg19": (vgg19, "cifar10", [3, 32, 32]),
    "deit_small": (deit_small, "imagenet", [3, 224, 224]),
}
"""Model name -> (layer table, dataset, input shape C,H,W). A table is a :class:`Network`: its
layers, and in ``ops`` its non-GEMM operators in forward order."""


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
