"""Layer shapes and operators from an ONNX graph (shapes only; the weights are not read into masks).

Conv nodes become conv layers (symmetric padding only), Gemm and MatMul nodes with a constant
weight become linear layers over their tokens, and MatMul nodes of two activations become
matmul layers (the leading dimensions after the batch are heads). Shapes come from ONNX's shape
inference; element counts are per sample (the first dimension is the batch).

The other nodes that compute on an activation become the operators of ``ops.csv``:
BatchNormalization (bn), Relu and Clip (relu), Add of two activations (add; adding a constant
that broadcasts is a bias, free, while a constant of the output's full shape, a position
embedding, is an add), MaxPool/GlobalMaxPool (maxpool), AveragePool/GlobalAveragePool/ReduceMean
(avgpool), Softmax, LayerNormalization, Gelu and the exported Erf form of GELU
(``x * 0.5 * (1 + erf(x / sqrt 2))``), Mul/Div by a constant (scale). Layout nodes are free, and
so is any node that reads no activation (shape arithmetic, constants). Every other node type is
an error naming it, rather than an operator silently dropped. A training trace ends with the
loss: softmax cross-entropy on the graph's output (unless the graph holds its own
SoftmaxCrossEntropyLoss). Needs the ``onnx`` package.
"""
from __future__ import annotations

from math import prod
from pathlib import Path

from ..core.errors import InputError
from .models import conv, linear, matmul
from .network import Network, NetworkBuilder

LAYOUT = {"Reshape", "Transpose", "Flatten", "Identity", "Constant", "Shape", "Size", "Gather", "Concat", "Squeeze",
          "Unsqueeze", "Dropout", "Cast", "Slice", "Split", "Expand"}
"""Nodes that move or relabel elements (or read only metadata): free."""
KINDS = {"BatchNormalization": "bn", "Relu": "relu", "Clip": "relu", "Add": "add", "MaxPool": "maxpool",
         "GlobalMaxPool": "maxpool", "AveragePool": "avgpool", "GlobalAveragePool": "avgpool", "ReduceMean": "avgpool",
         "Softmax": "softmax", "LayerNormalization": "layernorm", "Gelu": "gelu", "Mul": "scale", "Div": "scale",
         "SoftmaxCrossEntropyLoss": "loss"}
"""Node type -> operator kind, for nodes on activations."""
SUPPORTED = "Conv, Gemm, MatMul, " + ", ".join(KINDS) + ", the Erf form of GELU and layout nodes (" + \
    ", ".join(sorted(LAYOUT)) + ")"


def read_onnx(path: str | Path) -> Network:
    """The graph's layers (a list, as before) carrying its operators in ``ops``."""
    import onnx
    from onnx import shape_inference

    path = Path(path)
    try:
        model = shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise InputError(path, "", f"not a readable ONNX model ({exc})") from None
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    weights = {init.name: list(init.dims) for init in graph.initializer}
    constants = dict(weights)                                     # every constant's shape
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            constants[node.output[0]] = list(value.t.dims) if value is not None else []
    activations = {i.name for i in graph.input if i.name not in weights}
    names = [node.name or node.output[0] or f"node{index}" for index, node in enumerate(graph.node)]
    gelus = _erf_gelus(graph, activations, constants)
    b = NetworkBuilder()

    def known(value: str) -> bool:
        shape = shapes.get(value) or constants.get(value)
        return bool(shape) and all(d >= 1 for d in shape[1:])

    def per_sample(value: str, name: str) -> int:
        shape = shapes.get(value) or constants.get(value)
        if not known(value):
            raise InputError(path, name, f"expected a known shape for {value!r} (export with a fixed input size)")
        return prod(shape[1:]) if len(shape) > 1 else 1

    has_loss = False
    for index, node in enumerate(graph.node):
        name = names[index]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        reads = [i for i in node.input if i in activations]
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = constants[node.output[0]] = weights[node.input[0]]
        if not reads or node.op_type in ("Shape", "Size"):
            continue                                              # constants, shape arithmetic: not activations
        activations.update(o for o in node.output if o)
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
            b.layer(conv(name, w[1] * group, w[0], w[2], attrs.get("strides", [1])[0], pads[0], x[2], group))
        elif node.op_type in ("Gemm", "MatMul") and node.input[1] in weights:
            w = weights[node.input[1]]
            out, inp = (w[0], w[1]) if (node.op_type == "Gemm" and attrs.get("transB", 0)) else (w[1], w[0])
            x = shapes.get(node.input[0]) or [1, inp]
            b.layer(linear(name, inp, out, prod(x[1:-1]) if len(x) > 2 else 1))
        elif node.op_type == "MatMul":
            a, m = shapes.get(node.input[0]), shapes.get(node.input[1])
            if not a or not m or len(a) < 3:
                raise InputError(path, name, "expected a batched product of two activations with known shapes")
            heads = prod(a[1:-2]) if len(a) > 3 else 1
            b.layer(matmul(name, a[-2], a[-1], m[-1], heads))
        elif index in gelus:
            if gelus[index] is not None:                          # the group's first node stands for it
                b.op("gelu", per_sample(gelus[index], name))
        elif node.op_type in LAYOUT:
            continue
        elif node.op_type in KINDS:
            kind = KINDS[node.op_type]
            x, y = reads[0], node.output[0]
            elementwise = kind in ("bn", "relu", "add", "gelu", "scale", "softmax", "layernorm")
            # shape inference can lose a dimension through shape arithmetic (the class-token
            # expand): an elementwise node's input has its output's shape
            elements, channels = per_sample(x if known(x) or not elementwise else y, name), 0
            if elementwise and not known(x):
                shapes[x] = shapes[y]
            if kind == "bn":
                channels = shapes[x][1]
            elif kind == "softmax":
                rank = len(shapes[x])
                axis = attrs.get("axis", -1 if opset >= 13 else 1) % rank
                # opset < 13 flattens to 2-D at axis: one row per prefix
                channels = elements // shapes[x][axis] if opset >= 13 else prod(shapes[x][1:axis])
            elif kind == "layernorm":
                axis = attrs.get("axis", -1) % len(shapes[x])
                channels = prod(shapes[x][1:axis])
            elif kind == "add":
                if len(reads) == 1:
                    other = next(i for i in node.input if i != x)
                    shape = constants.get(other, shapes.get(other))
                    if shape is None or prod(shape) != prod(shapes.get(y) or shapes[x]):
                        continue                                  # a broadcast constant: a bias, fused
            elif kind == "scale":
                if len(reads) != 1 or (node.op_type == "Div" and node.input[0] != x):
                    raise InputError(path, name, f"unsupported {node.op_type} of two activations: expected a "
                                                 f"{node.op_type} by a constant (scale)")
            elif kind == "loss":
                b.loss(elements)
                has_loss = True
                continue
            b.op(kind, elements, per_sample(y, name), channels)
        else:
            raise InputError(path, name, f"unsupported operator {node.op_type}: expected one of {SUPPORTED}")
    if not b.net:
        raise InputError(path, "", "expected Conv, Gemm or MatMul nodes")
    if not has_loss and len(graph.output) == 1:
        b.loss(per_sample(graph.output[0].name, "output"))        # softmax cross-entropy, as training runs it
    return b.net


def _erf_gelus(graph, activations: set[str], constants: dict) -> dict[int, str | None]:
    """The exported Erf form of GELU, ``Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5`` (or
    with ``x * 0.5`` first): node index -> the GELU's input for the group's first node, None for
    the rest of the group."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    nodes = graph.node

    def const_input(node) -> str | None:
        """The node's non-constant input when its other input is a constant."""
        if len(node.input) != 2:
            return None
        a, c = node.input
        if c in constants:
            return a
        if a in constants and node.op_type == "Mul":
            return c
        return None

    def sole(out: str, op_type: str) -> int | None:
        users = consumers.get(out, [])
        return users[0] if len(users) == 1 and nodes[users[0]].op_type == op_type else None

    groups: dict[int, str | None] = {}
    for e, node in enumerate(nodes):
        if node.op_type != "Erf" or node.input[0] not in producer:
            continue
        d = producer[node.input[0]]
        if nodes[d].op_type not in ("Div", "Mul") or const_input(nodes[d]) is None:
            continue
        x = const_input(nodes[d])
        a = sole(node.output[0], "Add")
        if a is None or const_input(nodes[a]) is None:
            continue
        m1 = sole(nodes[a].output[0], "Mul")
        if m1 is None:
            continue
        other = next((i for i in nodes[m1].input if i != nodes[a].output[0]), None)
        if other == x:
            m2 = sole(nodes[m1].output[0], "Mul")
            if m2 is None or const_input(nodes[m2]) is None:
                continue
            members = [d, e, a, m1, m2]
        elif other in producer and nodes[producer[other]].op_type == "Mul" and const_input(nodes[producer[other]]) == x:
            members = [producer[other], d, e, a, m1]
        else:
            continue
        first = min(members)
        groups.update({i: (x if i == first else None) for i in members})
    return groups
