"""Layer shapes from an ONNX graph (shapes only; the weights are not read into masks).

Conv nodes become conv layers (symmetric padding only), Gemm and MatMul nodes with a constant
weight become linear layers over their tokens, and MatMul nodes of two activations become
matmul layers (the leading dimensions after the batch are heads). Shapes come from ONNX's shape
inference. Needs the ``onnx`` package.
"""
from __future__ import annotations

from math import prod
from pathlib import Path

from ..core.errors import InputError
from .models import conv, linear, matmul
from .trace import Layer


def read_onnx(path: str | Path) -> list[Layer]:
    import onnx
    from onnx import shape_inference

    path = Path(path)
    try:
        model = shape_inference.infer_shapes(onnx.load(str(path)))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise InputError(path, "", f"not a readable ONNX model ({exc})") from None
    graph = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    weights = {init.name: list(init.dims) for init in graph.initializer}
    layers: list[Layer] = []
    for index, node in enumerate(graph.node):
        name = node.name or node.output[0] or f"node{index}"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            x, w = shapes.get(node.input[0]), weights.get(node.input[1])
            if not x or not w or len(w) != 4:
                raise InputError(path, name, "expected a 2-D convolution with known input shape and constant weight")
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if len(set(pads)) > 1:
                raise InputError(path, name, f"expected symmetric padding, got pads {pads}")
            if w[2] != w[3] or x[2] != x[3] or len(set(attrs.get("strides", [1, 1]))) > 1:
                raise InputError(path, name, "expected square kernels, inputs and strides")
            group = attrs.get("group", 1)
            layers.append(conv(name, w[1] * group, w[0], w[2], attrs.get("strides", [1])[0], pads[0], x[2], group))
        elif node.op_type in ("Gemm", "MatMul") and node.input[1] in weights:
            w = weights[node.input[1]]
            out, inp = (w[0], w[1]) if (node.op_type == "Gemm" and attrs.get("transB", 0)) else (w[1], w[0])
            x = shapes.get(node.input[0]) or [1, inp]
            layers.append(linear(name, inp, out, prod(x[1:-1]) if len(x) > 2 else 1))
        elif node.op_type == "MatMul":
            a, b = shapes.get(node.input[0]), shapes.get(node.input[1])
            if not a or not b or len(a) < 3:
                raise InputError(path, name, "expected a batched product of two activations with known shapes")
            heads = prod(a[1:-2]) if len(a) > 3 else 1
            layers.append(matmul(name, a[-2], a[-1], b[-1], heads))
    if not layers:
        raise InputError(path, "", "expected Conv, Gemm or MatMul nodes")
    return layers
