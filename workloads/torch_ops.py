"""The non-GEMM operators of a torch model, counted from one forward pass (and its loss).

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every aten operator the pass
runs; those that read an activation (a tensor computed from the input: weight-side work such as
N:M masking does not count) map to the kinds of :data:`~.ops.OP_KINDS`, with element counts from
the tensors' shapes for one sample, each after the last conv, linear or ``_MatMul`` layer whose
forward hook has fired (the hooks of :func:`~.torch_models.extract_layers`). Layout operators
(views, transposes, the class-token concat, copies) and the GEMMs themselves are free; an add of
a broadcast parameter is a bias, fused into its GEMM. Any other aten operator on an activation
raises, so that no operator is dropped unseen. Needs torch.
"""
from __future__ import annotations

import weakref
from math import prod

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .network import Network, NetworkBuilder
from .torch_models import recording_layers

LAYOUT = {"view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "clone", "cat", "select",
          "slice", "unbind", "split", "split_with_sizes", "chunk", "narrow", "detach", "alias", "squeeze",
          "unsqueeze", "flatten", "contiguous", "_to_copy", "as_strided", "lift_fresh"}
"""aten operators that move or relabel elements without computing on them."""
GEMMS = {"convolution", "_convolution", "addmm", "mm", "bmm", "baddbmm", "matmul", "linear"}
"""aten operators of the layers themselves (counted by the layer hooks)."""
KINDS = {
    "native_batch_norm": "bn", "_native_batch_norm_legit": "bn", "_native_batch_norm_legit_no_training": "bn",
    "_native_batch_norm_legit_functional": "bn",
    "relu": "relu", "relu_": "relu", "clamp": "relu", "clamp_": "relu", "clamp_min": "relu", "clamp_min_": "relu",
    "hardtanh": "relu", "hardtanh_": "relu", "relu6": "relu",
    "add": "add", "add_": "add",
    "max_pool2d_with_indices": "maxpool", "max_pool2d": "maxpool", "adaptive_max_pool2d": "maxpool",
    "avg_pool2d": "avgpool", "_adaptive_avg_pool2d": "avgpool", "adaptive_avg_pool2d": "avgpool", "mean": "avgpool",
    "_softmax": "softmax", "softmax": "softmax",
    "native_layer_norm": "layernorm",
    "gelu": "gelu",
    "mul": "scale", "div": "scale",
}
"""aten operator -> operator kind, for operators on activations."""


def extract_network(model: nn.Module, input_shape: list[int], loss: bool = True) -> Network:
    """The model's layers (as :func:`~.torch_models.extract_layers`) and its operators, from one
    forward pass of a single zero sample in eval mode; with ``loss``, followed by softmax
    cross-entropy on its output, as training runs it."""
    builder = NetworkBuilder()
    x = torch.zeros(1, *input_shape)
    counter = _OpCounter(builder)
    counter.mark(x)
    with recording_layers(model, builder.layer), torch.no_grad(), counter:
        out = model.eval()(x)
        if loss:
            counter.in_loss = True
            F.cross_entropy(out, torch.zeros(out.shape[0], dtype=torch.long))
    return builder.net


class _OpCounter(TorchDispatchMode):
    def __init__(self, builder: NetworkBuilder):
        super().__init__()
        self.builder = builder
        self.in_loss = False
        self._activations: dict[int, weakref.ref] = {}

    def mark(self, tensor: torch.Tensor) -> None:
        self._activations[id(tensor)] = weakref.ref(tensor)

    def is_activation(self, value) -> bool:
        ref = self._activations.get(id(value)) if isinstance(value, torch.Tensor) else None
        return ref is not None and ref() is value

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if any(self.is_activation(a) for a in tree_flatten((args, kwargs))[0]):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.mark(t)
            self._count(func.overloadpacket.__name__, args, out)
        return out

    def _count(self, name: str, args: tuple, out) -> None:
        if name in LAYOUT or name in GEMMS:
            return
        if self.in_loss:
            if name == "_log_softmax":
                self.builder.loss(_per_sample(args[0]))
            elif name not in ("nll_loss_forward", "nll_loss2d_forward"):
                raise ValueError(f"torch extraction: aten.{name} in the loss: expected softmax cross-entropy")
            return
        kind = KINDS.get(name)
        if kind is None:
            raise ValueError(f"torch extraction: no operator kind for aten.{name} on an activation; "
                             f"supported: {', '.join(sorted(KINDS))} and layout operators")
        x = args[0]
        result = out[0] if isinstance(out, (tuple, list)) else out
        elements, channels = _per_sample(x), 0
        if kind == "bn":
            channels = x.shape[1]
        elif kind == "softmax":
            channels = elements // x.shape[args[1]]                       # rows: everything but the softmax axis
        elif kind == "layernorm":
            channels = elements // prod(args[1])                          # rows: everything but the normalised shape
        elif kind == "add":
            a, b = args[0], args[1]
            tensors = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
            if not (tensors and a.shape == b.shape == result.shape):
                bias = b if self.is_activation(a) else a
                if tensors and not self.is_activation(bias) and bias.shape != result.shape:
                    return                                                # a broadcast bias: fused into its GEMM
                raise ValueError(f"torch extraction: aten.{name} of {_shape(a)} and {_shape(b)}: expected two "
                                 f"tensors of the output's shape, or an activation and a broadcast bias")
        elif kind == "scale":
            other = args[1]
            scalar = not isinstance(other, torch.Tensor) or (other.dim() == 0 and not self.is_activation(other))
            if not (scalar and self.is_activation(x)):
                raise ValueError(f"torch extraction: aten.{name} of two tensors: expected a multiply by a constant")
        self.builder.op(kind, elements, _per_sample(result), channels)


def _shape(value) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else repr(value)


def _per_sample(t: torch.Tensor) -> int:
    return t.numel() // t.shape[0] if t.dim() else t.numel()
