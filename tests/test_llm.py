"""The transformer layer tables (workloads/llm.py): published parameter counts, a GPT-2 block by
hand, grouped-query attention, experts, decode against the sum over its steps, and traces that
load and simulate."""
from __future__ import annotations

import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.build import LLM_TRACES
from sparseloom.workloads.llm import LLMS, forward_macs, llm_network, llm_trace, parameter_count
from sparseloom.workloads.ops import ops_csv
from sparseloom.workloads.trace import load_workload, write_workload

from .conftest import RESNET50_2OF8, ROOT, SAT

PUBLISHED = {                     # HuggingFace / timm counts; BERT: the paper's 110M
    "gpt2_small": 124_439_808,    # tied token embedding counted once, 1024 learned positions
    "gpt2_medium": 354_823_168,
    "opt_1.3b": 1_315_758_080,
    "llama2_7b": 6_738_415_616,   # untied: the token table and the LM head both count
    "llama3_8b": 8_030_261_248,
    "mixtral_8x7b": 46_702_792_704,   # all 8 experts of every layer
    "bert_base": 110_000_000,
    "vit_b16": 86_567_656,
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_parameter_counts_match_the_published_ones(model):
    assert abs(parameter_count(model) / PUBLISHED[model] - 1) < 0.01
    if model != "bert_base":       # the HF / timm counts are reproduced exactly
        assert parameter_count(model) == PUBLISHED[model]


def _weights(net) -> int:
    return sum(layer.weights * layer.repeat for layer in net if layer.has_weights)


@pytest.mark.parametrize("model", ["gpt2_small", "llama2_7b", "llama3_8b"])
def test_forward_macs_per_token_from_first_principles(model):
    # per token: every weight once (2 x params in FLOPs, less the embedding lookups, biases and
    # norms), plus the causal attention counted full: 2 matmuls x layers x S x d
    cfg, seq = LLMS[model], 256
    net = llm_network(model, seq, "training")
    attention = 2 * cfg.layers * seq * cfg.heads * cfg.head_dim
    assert forward_macs(net) == seq * (_weights(net) + attention)
    # the parameters a token multiplies: all but the lookup tables (an untied token table, positions)
    lookups = (0 if cfg.tied else cfg.vocab * cfg.d_model) + cfg.learned_positions * cfg.d_model
    assert abs(_weights(net) / (parameter_count(model) - lookups) - 1) < 0.01


def test_gpt2_block_by_hand():
    S, d, f, h = 16, 768, 3072, 12
    net = llm_network("gpt2_small", S, "training")
    block = [l for l in net if l.name.startswith("blocks.0.")]
    shapes = [(l.name, l.kind, l.C, l.K, l.H, l.groups, l.macs_per_sample) for l in block]
    assert shapes == [
        ("blocks.0.qkv", "linear", d, 3 * d, S, 1, S * d * 3 * d),
        ("blocks.0.attn_qk", "matmul", 64 * h, S * h, S, h, h * S * 64 * S),      # [S x 64] @ [64 x S] per head
        ("blocks.0.attn_av", "matmul", S * h, 64 * h, S, h, h * S * S * 64),      # [S x S] @ [S x 64] per head
        ("blocks.0.o", "linear", d, d, S, 1, S * d * d),
        ("blocks.0.fc1", "linear", d, f, S, 1, S * d * f),
        ("blocks.0.fc2", "linear", f, d, S, 1, S * f * d),
    ]
    ops = [(o.name, o.kind, o.after, o.elements, o.out_elements, o.channels, o.repeat) for o in net.ops]
    first = 3
    assert ops[:first] == [("embed_tokens", "embedding", "", S * d, S * d, 0, 1),
                           ("embed_positions", "embedding", "", S * d, S * d, 0, 1),
                           ("input.add", "add", "", S * d, S * d, 0, 1)]
    assert ops[first:first + 8] == [
        ("input.layernorm", "layernorm", "", S * d, S * d, S, 1),
        ("blocks.0.attn_qk.scale", "scale", "blocks.0.attn_qk", h * S * S, h * S * S, 0, 1),
        ("blocks.0.attn_qk.softmax", "softmax", "blocks.0.attn_qk", h * S * S, h * S * S, h * S, 1),
        ("blocks.0.o.add", "add", "blocks.0.o", S * d, S * d, 0, 1),
        ("blocks.0.o.layernorm", "layernorm", "blocks.0.o", S * d, S * d, S, 1),
        ("blocks.0.fc1.gelu", "gelu", "blocks.0.fc1", S * f, S * f, 0, 1),
        ("blocks.0.fc2.add", "add", "blocks.0.fc2", S * d, S * d, 0, 1),
        ("blocks.0.fc2.layernorm", "layernorm", "blocks.0.fc2", S * d, S * d, S, 1),   # block 1's
    ]
    assert net[-1].name == "lm_head" and (net[-1].C, net[-1].K, net[-1].H) == (d, 50257, S)
    assert ops[-2:] == [("blocks.11.fc2.layernorm", "layernorm", "blocks.11.fc2", S * d, S * d, S, 1),
                        ("lm_head.loss", "loss", "lm_head", S * 50257, 1, 0, 1)]
    assert len(net) == 12 * 6 + 1 and len(net.ops) == 3 + 12 * 7 + 1 + 1


def test_llama3_grouped_query_attention():
    S = 32
    net = {l.name: l for l in llm_network("llama3_8b", S, "prefill")}
    assert (net["blocks.0.q"].C, net["blocks.0.q"].K) == (4096, 4096)
    assert (net["blocks.0.k"].C, net["blocks.0.k"].K) == (4096, 1024)
    assert (net["blocks.0.v"].C, net["blocks.0.v"].K) == (4096, 1024)
    qk = net["blocks.0.attn_qk"]                       # 4 query heads per k/v head stacked as rows
    assert (qk.groups, qk.H, qk.C // qk.groups, qk.K // qk.groups) == (8, 4 * S, 128, S)
    assert qk.macs_per_sample == 32 * S * 128 * S
    assert net["lm_head"].H == 1                        # prefill: the last token's logits only
    gated = [n for n in net if n.startswith("blocks.0.")]
    assert gated == [f"blocks.0.{x}" for x in ("q", "k", "v", "attn_qk", "attn_av", "o", "gate", "up", "down")]


def test_mixtral_experts_run_on_their_top2_share():
    S, d, f = 64, 4096, 14336
    net = llm_network("mixtral_8x7b", S, "training")
    experts = [l for l in net if l.name.startswith("blocks.0.experts.")]
    assert [(l.name, l.H, l.repeat) for l in experts] == [
        ("blocks.0.experts.gate", S * 2 // 8, 8), ("blocks.0.experts.up", S * 2 // 8, 8),
        ("blocks.0.experts.down", S * 2 // 8, 8)]
    assert sum(l.macs_per_sample * l.repeat for l in experts) == S * 2 * 3 * d * f      # top-2 of 8
    router = next(l for l in net if l.name == "blocks.0.router")
    assert (router.C, router.K, router.H) == (d, 8, S)
    # active parameters per token: about 12.9 B (published), all 46.7 B stored
    active = forward_macs(net) / S - 2 * 32 * S * d
    assert abs(active / 12.88e9 - 1) < 0.02


def _decode_sum(model: str, S: int, T: int) -> int:
    """Forward MACs of T decode steps computed step by step from the configuration."""
    c = LLMS[model]
    d, hd, kv = c.d_model, c.head_dim, c.n_kv
    mlp = 3 * d * c.ffn if c.mlp == "swiglu" else 2 * d * c.ffn
    if c.experts:
        mlp = d * c.experts + c.top_k * mlp
    per_layer = d * c.heads * hd + 2 * d * kv * hd + c.heads * hd * d + mlp
    total = 0
    for t in range(T):
        context = S + t + 1                              # the cache of S + t tokens and the new one
        total += c.layers * (per_layer + 2 * c.heads * hd * context) + d * c.vocab
    return total


@pytest.mark.parametrize("model", ["gpt2_small", "llama3_8b", "mixtral_8x7b"])
@pytest.mark.parametrize("T", [1, 7, 8])
def test_decode_macs_equal_the_sum_over_steps(model, T):
    S, batch = 100, 3
    w = llm_trace("d", model, "inference", S, T, batch)
    assert w.meta.phase == "decode" and "decode" in w.meta.description
    assert forward_macs(w.layers, batch) == batch * _decode_sum(model, S, T)
    c = LLMS[model]
    softmax = sum(o.elements * o.repeat for o in w.ops if o.kind == "softmax" and ".attn_" in o.after)
    assert softmax == c.layers * c.heads * sum(S + t + 1 for t in range(T))
    linears = [l for l in w.layers if l.kind == "linear"]
    assert all(l.H == 1 for l in linears)
    qk = next(l for l in w.layers if l.name == "blocks.0.attn_qk")
    assert qk.H == c.heads // c.n_kv                    # one query row per head (GQA: stacked)


def test_nm_on_weights_only():
    w = llm_trace("t", "llama2_7b", "training", 16, 0, 1, "bdwp", "2:4")
    for layer in w.layers:
        if layer.kind == "matmul":
            assert layer.fwd_nm.dense and layer.bwd_nm.dense
        else:
            assert layer.fwd_nm == layer.bwd_nm == NMPattern(2, 4)
    assert w.layers[0].input_grad == 1                  # the token embedding is trained
    assert w.meta.phase == "training" and w.meta.optimizer == "adamw"


def _cases():
    for model in LLMS:
        seq = None if model == "vit_b16" else 16
        yield model, "training", seq, 0
        yield model, "inference", seq, 0
        if LLMS[model].kind == "decoder":
            yield model, "inference", seq, 4


def test_every_trace_loads_and_simulates(tmp_path):
    arch = load_arch(SAT)
    for i, (model, mode, seq, steps) in enumerate(_cases()):
        w = llm_trace(f"t{i}", model, mode, seq, steps, 2, "bdwp", "2:8")
        loaded = load_workload(write_workload(w, tmp_path / f"t{i}"))
        assert loaded.meta == w.meta and loaded.layers == w.layers and loaded.ops == w.ops, (model, mode, steps)
        result = simulate(arch, loaded)
        assert result is not None


def test_committed_llm_traces_match_their_generator():
    for spec in LLM_TRACES:
        folder = ROOT / "workloads" / spec[0]
        committed, fresh = load_workload(folder), llm_trace(*spec)
        assert committed.meta == fresh.meta and committed.layers == fresh.layers, spec[0]
        assert (folder / "ops.csv").read_text() == ops_csv(fresh.ops)


def test_older_traces_have_no_phase():
    assert load_workload(RESNET50_2OF8).meta.phase is None


def test_trace_command_for_transformers(tmp_path):
    from sparseloom.apps.trace import main

    assert main(["llama3_8b", "--mode", "inference", "--seq", "64", "--decode-steps", "5", "--nm", "2:4",
                 "-o", str(tmp_path / "dec")]) == 0
    w = load_workload(tmp_path / "dec")
    assert w.meta.phase == "decode" and w.meta.batch_size == 1 and w.meta.mode == "inference"
    assert main(["gpt2_small", "--seq", "32", "--batch", "4", "-o", str(tmp_path / "tr")]) == 0
    assert load_workload(tmp_path / "tr").meta.phase == "training"
    assert main(["gpt2_small", "--seq", "2000", "-o", str(tmp_path / "x")]) == 2          # past 1024 positions
    assert main(["gpt2_small", "--seq", "32", "--decode-steps", "3", "-o", str(tmp_path / "x")]) == 2   # training
    assert main(["bert_base", "--mode", "inference", "--seq", "32", "--decode-steps", "3", "-o", str(tmp_path / "x")]) == 2
    assert main(["resnet9", "--mode", "inference", "-o", str(tmp_path / "x")]) == 2
