"""The non-GEMM operators of a trace (ops.csv): hand counts, torch and ONNX extraction, bad files."""
from __future__ import annotations

from collections import OrderedDict

import pytest

from sparseloom.core.errors import InputError
from sparseloom.workloads.llm import LLMS
from sparseloom.workloads.build import TRACES, make_trace
from sparseloom.workloads.models import MODELS, deit_small, resnet50
from sparseloom.workloads.trace import load_workload, write_workload

from .conftest import ROOT, edit_file


def rows(ops):
    """What must agree between two sources (names may differ)."""
    return [(o.kind, o.after, o.elements, o.out_elements, o.channels, o.repeat) for o in ops]


def test_resnet50_bottleneck_by_hand():
    # layer1.0: 64 -> 64 (1x1) -> 64 (3x3) -> 256 (1x1) at 56x56, a 1x1 downsample 64 -> 256
    narrow, wide = 64 * 56 * 56, 256 * 56 * 56
    expected = [
        ("bn", "layer1.0.conv1", narrow, narrow, 64, 1), ("relu", "layer1.0.conv1", narrow, narrow, 0, 1),
        ("bn", "layer1.0.conv2", narrow, narrow, 64, 1), ("relu", "layer1.0.conv2", narrow, narrow, 0, 1),
        ("bn", "layer1.0.conv3", wide, wide, 256, 1),
        ("bn", "layer1.0.downsample", wide, wide, 256, 1),
        ("add", "layer1.0.downsample", wide, wide, 0, 1),                # bn3 output + downsample branch
        ("relu", "layer1.0.downsample", wide, wide, 0, 1),
    ]
    ops = resnet50().ops
    block = [o for o in ops if o.after.startswith("layer1.0.")]
    assert rows(block) == expected
    # the stem before it: bn1, relu on 64x112x112, then the 3x3/2 max-pool to 64x56x56
    assert rows(ops[:3]) == [("bn", "conv1", 64 * 112 * 112, 64 * 112 * 112, 64, 1),
                             ("relu", "conv1", 64 * 112 * 112, 64 * 112 * 112, 0, 1),
                             ("maxpool", "conv1", 64 * 112 * 112, narrow, 0, 1)]
    # the end: global average pool of 2048x7x7, the classifier, the loss over 1000 classes
    assert rows(ops[-2:]) == [("avgpool", "layer4.2.conv3", 2048 * 49, 2048, 0, 1),
                              ("loss", "fc", 1000, 1, 0, 1)]
    kinds = [o.kind for o in ops]
    assert (kinds.count("bn"), kinds.count("add"), kinds.count("relu")) == (53, 16, 49)  # 53 convs, 16 blocks


def test_deit_small_block_by_hand():
    tokens, dim, heads = 197, 384, 6
    x, scores, hidden = tokens * dim, heads * tokens * tokens, tokens * 4 * dim
    p = "blocks.3"
    expected = [
        ("layernorm", "blocks.2.fc2", x, x, tokens, 1),                 # norm1 of block 3 follows block 2's fc2
        ("scale", f"{p}.attn_qk", scores, scores, 0, 1),                 # q k^T / sqrt(64)
        ("softmax", f"{p}.attn_qk", scores, scores, heads * tokens, 1),  # one row per head and query token
        ("add", f"{p}.proj", x, x, 0, 1),
        ("layernorm", f"{p}.proj", x, x, tokens, 1),
        ("gelu", f"{p}.fc1", hidden, hidden, 0, 1),
        ("add", f"{p}.fc2", x, x, 0, 1),
    ]
    ops = deit_small().ops
    start = next(i for i, o in enumerate(ops) if o.after == "blocks.2.fc2" and o.kind == "layernorm")
    assert rows(ops[start:start + 7]) == expected
    assert rows(ops[:1]) == [("add", "patch_embed", x, x, 0, 1)]         # + position embedding (197 tokens)
    assert rows(ops[-2:]) == [("layernorm", "blocks.11.fc2", x, x, tokens, 1), ("loss", "head", 1000, 1, 0, 1)]
    assert len(ops) == 1 + 12 * 7 + 2


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_table_ends_with_the_loss_after_its_classifier(name):
    table = MODELS[name][0]()
    loss = table.ops[-1]
    assert (loss.kind, loss.after, loss.elements, loss.out_elements) == ("loss", table[-1].name, table[-1].K, 1)
    assert [o.kind for o in table.ops].count("loss") == 1


@pytest.mark.parametrize("name", ["resnet50", "deit_small", "resnet18", "resnet18_cifar100", "resnet9", "vgg19"])
def test_analytic_ops_equal_torch_extraction(name):
    pytest.importorskip("torch", reason="torch extraction needs torch")
    from sparseloom.workloads.torch_models import TORCH_MODELS
    from sparseloom.workloads.torch_ops import extract_network

    table, _, shape = MODELS[name]
    extracted = extract_network(TORCH_MODELS[name](), shape)
    assert rows(extracted.ops) == rows(table().ops)
    assert [o.name for o in extracted.ops] == [o.name for o in table().ops]   # one naming rule


def test_torch_extraction_rejects_an_unknown_operator():
    torch = pytest.importorskip("torch", reason="torch extraction needs torch")
    from torch import nn

    from sparseloom.workloads.torch_ops import extract_network

    def mlp(activation):
        return nn.Sequential(OrderedDict(a=nn.Linear(8, 8), act=activation, b=nn.Linear(8, 4)))

    with pytest.raises(ValueError, match="aten.sigmoid"):
        extract_network(mlp(nn.Sigmoid()), [8])
    assert rows(extract_network(mlp(nn.ReLU6()), [8]).ops) == [("relu", "a", 8, 8, 0, 1),     # biases are free
                                                              ("loss", "b", 4, 1, 0, 1)]
    assert torch.is_grad_enabled()


def test_committed_traces_carry_ops():
    for folder in sorted((ROOT / "workloads").iterdir()):
        if not (folder / "layers.csv").exists():
            continue
        w = load_workload(folder)
        assert (folder / "ops.csv").exists() and w.ops, folder.name
        if w.meta.mode == "training":        # a training trace ends in its loss, after the classifier
            assert w.ops[-1].kind == "loss" and w.ops[-1].after == w.layers[-1].name, folder.name
        transformer = w.meta.model in ("deit_small", "minilm") or w.meta.model in LLMS
        assert w.meta.optimizer == ("adamw" if transformer else "sgd_momentum"), folder.name


def test_generated_traces_carry_the_table_ops():
    for spec in TRACES:
        w, _ = make_trace(*spec)
        assert w.ops == MODELS[spec[1]][0]().ops


def test_pretrained_ops_by_hand():
    minilm = load_workload(ROOT / "workloads" / "minilm_2of8")
    x, scores = 128 * 384, 12 * 128 * 128
    assert rows(minilm.ops[:3]) == [("add", "", x, x, 0, 1), ("add", "", x, x, 0, 1),       # word + type + position
                                    ("layernorm", "", x, x, 128, 1)]
    layer = [o for o in minilm.ops if o.after.startswith("encoder.layer.0.")]
    assert rows(layer) == [("scale", "encoder.layer.0.attn_qk", scores, scores, 0, 1),
                           ("softmax", "encoder.layer.0.attn_qk", scores, scores, 12 * 128, 1),
                           ("add", "encoder.layer.0.attention_output", x, x, 0, 1),
                           ("layernorm", "encoder.layer.0.attention_output", x, x, 128, 1),
                           ("gelu", "encoder.layer.0.intermediate", 128 * 1536, 128 * 1536, 0, 1),
                           ("add", "encoder.layer.0.output", x, x, 0, 1),
                           ("layernorm", "encoder.layer.0.output", x, x, 128, 1)]
    assert rows(minilm.ops[-2:]) == [("avgpool", "encoder.layer.5.output", x, 384, 0, 1),   # mean pooling
                                     ("loss", "encoder.layer.5.output", 384, 1, 0, 1)]
    eff = load_workload(ROOT / "workloads" / "efficientnet_lite0_2of8")
    convs = [l for l in eff.layers if l.kind == "conv"]
    bns = [o for o in eff.ops if o.kind == "bn"]
    assert [(o.after, o.elements, o.channels) for o in bns] == [(l.name, l.K * l.P * l.Q, l.K) for l in convs]
    relus = [o.after for o in eff.ops if o.kind == "relu"]
    assert relus == [l.name for l in convs if not l.name.endswith(".project")]         # ReLU6 all but projections
    # residual adds: the blocks that keep stride 1 and their width (16 blocks, 9 of them)
    adds = [o.after for o in eff.ops if o.kind == "add"]
    assert adds == [f"blocks.{b}.project" for b in (2, 4, 6, 7, 9, 10, 12, 13, 14)]
    blocks2 = {l.name: l for l in eff.layers}
    assert [o.elements for o in eff.ops if o.kind == "add"][0] == 24 * 56 * 56 == blocks2["blocks.2.project"].outputs
    assert rows(eff.ops[-2:]) == [("avgpool", "head", 1280 * 49, 1280, 0, 1), ("loss", "fc", 1000, 1, 0, 1)]


def test_digits_ops():
    w = load_workload(ROOT / "workloads" / "digits_bdwp_2of8")
    assert rows(w.ops) == [("bn", "conv1", 16 * 64, 16 * 64, 16, 1), ("relu", "conv1", 16 * 64, 16 * 64, 0, 1),
                           ("bn", "conv2", 32 * 64, 32 * 64, 32, 1), ("relu", "conv2", 32 * 64, 32 * 64, 0, 1),
                           ("loss", "fc", 10, 1, 0, 1)]                   # fc's bias add is fused, not an op
    pytest.importorskip("torch", reason="extraction needs torch")
    from sparseloom.workloads.digits import DigitsNet
    from sparseloom.workloads.torch_ops import extract_network

    assert extract_network(DigitsNet(), [1, 8, 8]).ops == w.ops


# --- ONNX ------------------------------------------------------------------------------------

def _small_cnn():
    import torch.nn.functional as F
    from torch import nn

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.c2 = nn.Conv2d(8, 8, 3, 1, 1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn(self.c1(x))), 2)
            x = F.relu(x + self.c2(x))
            return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1)).softmax(-1)

    return Small()


def _export_small_cnn(torch, tmp_path):
    path = tmp_path / "small.onnx"
    # training mode keeps BatchNormalization (eval export folds it into the conv)
    torch.onnx.export(_small_cnn().train(), torch.zeros(1, 3, 16, 16), str(path), dynamo=False,
                      training=torch.onnx.TrainingMode.TRAINING)
    return path


def test_onnx_import_of_a_small_cnn(tmp_path):
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from sparseloom.workloads.onnx_import import read_onnx

    path = _export_small_cnn(torch, tmp_path)
    net = read_onnx(path)
    c1, c2, fc = (layer.name for layer in net)
    assert rows(net.ops) == [
        ("bn", c1, 8 * 256, 8 * 256, 8, 1), ("relu", c1, 8 * 256, 8 * 256, 0, 1),
        ("maxpool", c1, 8 * 256, 8 * 64, 0, 1),
        ("add", c2, 8 * 64, 8 * 64, 0, 1),                   # c2's bias is in its Conv node; x + c2(x) is an add
        ("relu", c2, 8 * 64, 8 * 64, 0, 1), ("avgpool", c2, 8 * 64, 8, 0, 1),
        ("softmax", fc, 10, 10, 1, 1),                       # one row of 10 classes
        ("loss", fc, 10, 1, 0, 1),                           # training: cross-entropy on the graph's output
    ]


@pytest.mark.parametrize("name, opset", [("resnet9", 20), ("deit_small", 20), ("deit_small", 17)])
def test_onnx_ops_equal_the_tables(tmp_path, name, opset):
    # opset 17 has no Gelu node: torch exports GELU as x * 0.5 * (1 + erf(x / sqrt 2))
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from sparseloom.workloads.onnx_import import read_onnx
    from sparseloom.workloads.torch_models import TORCH_MODELS

    table, _, shape = MODELS[name]
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(TORCH_MODELS[name]().train(), torch.zeros(1, *shape), str(path), dynamo=False,
                      opset_version=opset, training=torch.onnx.TrainingMode.TRAINING)
    net = read_onnx(path)
    expected = table()
    rename = {layer.name: ref.name for layer, ref in zip(net, expected)}    # ONNX node names
    assert [(o.kind, rename[o.after], *rows([o])[0][2:]) for o in net.ops] == rows(expected.ops)


def _graph(tmp_path, nodes, name="g.onnx"):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_unsupported_node_is_named(tmp_path):
    pytest.importorskip("onnx")
    from onnx import helper

    from sparseloom.workloads.onnx_import import read_onnx

    path = _graph(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                             helper.make_node("Sigmoid", ["c"], ["y"], name="gate")])
    with pytest.raises(InputError) as info:
        read_onnx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: gate: unsupported operator Sigmoid") and "BatchNormalization" in message
    path = _graph(tmp_path, [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                             helper.make_node("Relu", ["c"], ["r"], name="relu"),
                             helper.make_node("Mul", ["c", "r"], ["y"], name="gating")], "mul.onnx")
    with pytest.raises(InputError, match="gating: unsupported Mul of two activations"):
        read_onnx(path)


def test_trace_command_carries_onnx_ops(tmp_path):
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from sparseloom.apps.trace import main

    path = _export_small_cnn(torch, tmp_path)
    assert main([str(path), "--nm", "2:4", "-o", str(tmp_path / "t")]) == 0
    w = load_workload(tmp_path / "t")
    assert [o.kind for o in w.ops] == ["bn", "relu", "maxpool", "add", "relu", "avgpool", "softmax", "loss"]


# --- the ops.csv file --------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, where, expected", [
    ("conv1.bn,bn,", "conv1.bn,batchnorm,", "line 2, column kind", "expected one of bn, relu"),
    ("conv1.relu,relu,conv1,", "conv1.relu,relu,conv9,", "line 3, column after", "expected the name of a layer"),
    ("conv1.bn,bn,conv1,802816,", "conv1.bn,bn,conv1,8e5,", "line 2, column elements", "expected an integer"),
    ("conv1.bn,bn,conv1,802816,802816,64,1", "conv1.bn,bn,conv1,802816,802816,64,", "line 2, column repeat",
     "expected an integer"),
    ("name,kind,after,", "name,type,after,", "header", "expected columns name, kind, after"),
    ("conv1.relu,relu,conv1,", "conv1.relu,relu,fc,", "line 4, column after", "expected operators in forward order"),
    ("conv1.maxpool,maxpool,conv1,802816,200704", "conv1.maxpool,maxpool,conv1,200704,802816", "line 4, column out_elements",
     "at most elements"),
    ("conv1.relu,relu,", "conv1.bn,relu,", "line 3, column name", "unique"),
])
def test_bad_ops_csv(trace_copy, old, new, where, expected):
    edit_file(trace_copy / "ops.csv", old, new)
    with pytest.raises(InputError) as info:
        load_workload(trace_copy)
    message = str(info.value)
    assert message.startswith(f"{trace_copy / 'ops.csv'}: {where}: "), message
    assert expected in message


def test_old_trace_without_ops_loads(trace_copy):
    (trace_copy / "ops.csv").unlink()
    yaml_path = trace_copy / "workload.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("optimizer: sgd_momentum\n", ""))
    assert "optimizer" not in yaml_path.read_text()
    w = load_workload(trace_copy)
    assert w.ops == [] and w.meta.optimizer == "sgd_momentum" and len(w.layers) == 54


def test_ops_round_trip(tmp_path):
    w = load_workload(ROOT / "workloads" / "deit_small_2of8")
    again = load_workload(write_workload(w, tmp_path / "copy"))
    assert again.ops == w.ops and again.meta.optimizer == "adamw"
    assert (tmp_path / "copy" / "ops.csv").read_text() == (ROOT / "workloads" / "deit_small_2of8" / "ops.csv").read_text()
    no_ops = write_workload(type(w)(w.meta, w.layers), tmp_path / "bare")
    assert not (no_ops / "ops.csv").exists() and load_workload(no_ops).ops == []

