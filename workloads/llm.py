"""Transformer layer tables from published configurations: decoder LLMs (GPT-2, OPT, Llama-2/3,
Mixtral), and the encoders BERT-base and ViT-B/16, in training, prefill and decode.

Every table is a :class:`~.network.Network` built like :func:`.models.deit_small`: the GEMM
layers and the non-GEMM operators between them in execution order. Per block: the norm
(LayerNorm, or RMSNorm for Llama and Mixtral; BERT is post-LN, the others pre-LN), the q, k, v
projections (GPT-2 and ViT fuse them into one ``qkv`` linear as their reference code does; under
grouped-query attention k and v have ``kv_heads x head_dim`` outputs), the score matmul, its
1/sqrt(head_dim) ``scale`` and ``softmax``, the value matmul, the output projection ``o``, the
residual ``add``, the norm, the MLP (``fc1``, GELU (OPT: ReLU), ``fc2``; gated: ``gate``,
``silu``, ``up``, ``mul``, ``down``) and the residual ``add``. Before the first block the token
embedding (an ``embedding`` op; GPT-2, OPT and BERT also look up learned positions (and BERT
token types) and add them); after the last, the final norm and the LM head (a linear d ->
vocab), with the ``loss`` in training. Biases are fused into their GEMMs. Not counted: rotary
position embeddings (Llama, Mixtral: elementwise work on q and k), the causal mask (a
broadcast add), dropout, and the top-k selection of a router (beyond its softmax).

Attention: per query head the score matmul is [q_rows x head_dim] @ [head_dim x kv_len] and the
value matmul [q_rows x kv_len] @ [kv_len x head_dim]. Under grouped-query attention the
``heads / kv_heads`` query heads that share a k/v head are stacked as rows of one product per
k/v head (same MACs; the B operand, the keys or values, is then each k/v head's once, as a GQA
kernel reads it). Causal attention in training and prefill counts the full S x S score matmul
(no skipping of the masked half), as a dense kernel computes it.

Mixture of experts (Mixtral): the router is a d -> experts linear with a softmax; each expert's
gated MLP runs on its share of the tokens, ``tokens x top_k / experts`` per expert on average
(uniform routing), i.e. ``H = tokens x top_k / experts`` with ``repeat = experts``; where that
is not a whole number of tokens (decode: one token), ``H = tokens`` with ``repeat = top_k`` (the
same MACs; the weights read are then those of top_k experts only, an underestimate for a batch
of sequences routed to different experts). The expert outputs are scaled by their routing
weights (``scale``) and summed (``add``).

Phases (``workload.yaml`` says which, in ``phase`` and ``description``):

* ``training``: all S tokens of each sequence at once, forward, backward and update; the LM head
  on all S tokens and the loss over S x vocab logits.
* ``prefill`` (inference): all S prompt tokens at once, forward only; the LM head on the last
  token only (it predicts the first new token, as a serving system computes it). For the
  encoders (BERT, ViT) inference is this one pass, with BERT's MLM head on all tokens.
* ``decode`` (inference): T steps after a prompt of S tokens, one new token per step attending to
  the KV cache. Step t (t = 0 .. T-1) processes the token at position S + t, whose query attends
  over kv_len = S + t + 1 keys (the cache of S + t tokens and its own). The trace models the
  step at the *average* context S + (T + 1) / 2 with every layer and operator ``repeat``-ed T
  times: the q/k/v/o/MLP linears and the LM head with H = 1 token, the attention matmuls with
  rows = 1 (times the query heads per k/v head) and kv_len = the context, so the KV cache read
  is their B operand (dense, from DRAM). MACs, KV bytes and softmax elements are linear in
  kv_len, so this equals the sum over the steps exactly: where the average is a half-integer (T
  even) the attention matmuls and their operators are split into two parts of T/2 steps, at
  S + T/2 and S + T/2 + 1 (``attn_qk`` and ``attn_qk.hi``). What the approximation loses is the
  per-step tiling of a context that grows (one average GEMM instead of T different ones).
  ``batch`` is the number of sequences decoded together (M = batch rows per linear).

N:M sparsity (:func:`llm_trace`) applies to the weights of every linear, LM head and router
included (an embedding lookup is no GEMM); the attention matmuls stay dense. In training the
first layer keeps its input gradient (the token embedding is trained), except ViT's patch
embedding.

Parameter counts (:func:`parameter_count`): the weights of the layer table (each instance, so
all experts) plus what the table does not hold as GEMM weights: the embedding tables (the token
table once if the LM head is tied to it, GPT-2, OPT and BERT; again if untied, Llama and
Mixtral), learned positions and token types, ViT's class token, the biases and the norms'
scales (and shifts). That reproduces the published (HuggingFace / timm) counts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.metadata import version
from typing import Literal

from ..arch.schema import NMPattern
from ..core.errors import InputError
from .models import conv, linear, matmul, sparsify
from .network import Network, NetworkBuilder
from .ops import Op
from .trace import Provenance, Sparsity, Workload, WorkloadMeta

PHASES = ("training", "prefill", "decode")


@dataclass(frozen=True)
class LLMConfig:
    """A published transformer configuration (the HuggingFace ``config.json`` fields it needs)."""

    layers: int
    d_model: int
    heads: int
    ffn: int                                   # MLP hidden width (a gated MLP's intermediate size)
    vocab: int
    max_positions: int                         # the longest context it was trained for
    kv_heads: int = 0                          # 0: as many as heads (multi-head attention)
    mlp: Literal["gelu", "relu", "swiglu"] = "gelu"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    post_norm: bool = False                    # BERT: the norm after each residual add
    bias: bool = True                          # biases on the linears
    tied: bool = True                          # the LM head shares the token embedding table
    learned_positions: int = 0                 # rows of a learned position table (0: rotary)
    token_types: int = 0                       # BERT's segment embeddings
    fused_qkv: bool = False                    # one qkv linear (GPT-2's c_attn, timm's ViT)
    experts: int = 0                           # mixture of experts (0: a dense MLP)
    top_k: int = 0
    kind: Literal["decoder", "bert", "vit"] = "decoder"
    image: int = 0                             # ViT: input size, patch size, classes
    patch: int = 0
    classes: int = 0
    published: int = 0                         # the published parameter count
    source: str = ""

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def n_kv(self) -> int:
        return self.kv_heads or self.heads

    @property
    def vit_tokens(self) -> int:
        return (self.image // self.patch) ** 2 + 1


LLMS: dict[str, LLMConfig] = {
    "gpt2_small": LLMConfig(12, 768, 12, 3072, 50257, 1024, learned_positions=1024, fused_qkv=True,
                            published=124_439_808, source="HF gpt2 (124M)"),
    "gpt2_medium": LLMConfig(24, 1024, 16, 4096, 50257, 1024, learned_positions=1024, fused_qkv=True,
                             published=354_823_168, source="HF gpt2-medium (355M)"),
    "opt_1.3b": LLMConfig(24, 2048, 32, 8192, 50272, 2048, mlp="relu", learned_positions=2050,
                          published=1_315_758_080, source="HF facebook/opt-1.3b (1.3B; 2 offset position rows)"),
    "llama2_7b": LLMConfig(32, 4096, 32, 11008, 32000, 4096, mlp="swiglu", norm="rmsnorm", bias=False, tied=False,
                           published=6_738_415_616, source="HF meta-llama/Llama-2-7b-hf (6.74B)"),
    "llama3_8b": LLMConfig(32, 4096, 32, 14336, 128256, 8192, kv_heads=8, mlp="swiglu", norm="rmsnorm", bias=False,
                           tied=False, published=8_030_261_248, source="HF meta-llama/Meta-Llama-3-8B (8.03B)"),
    "mixtral_8x7b": LLMConfig(32, 4096, 32, 14336, 32000, 32768, kv_heads=8, mlp="swiglu", norm="rmsnorm", bias=False,
                              tied=False, experts=8, top_k=2, published=46_702_792_704,
                              source="HF mistralai/Mixtral-8x7B-v0.1 (46.7B total, 12.9B active)"),
    "bert_base": LLMConfig(12, 768, 12, 3072, 30522, 512, post_norm=True, learned_positions=512, token_types=2,
                           kind="bert", published=110_000_000,
                           source="BERT-base (Devlin et al. 2019: 110M), here with its MLM head instead of the pooler"),
    "vit_b16": LLMConfig(12, 768, 12, 3072, 0, 197, fused_qkv=True, kind="vit", image=224, patch=16, classes=1000,
                         published=86_567_656, source="timm vit_base_patch16_224 (86.6M)"),
}
"""Model name -> its configuration."""


def _attention_parts(phase: str, seq: int, steps: int) -> list[tuple[int, int]]:
    """(kv_len, steps) pairs: the attention's context lengths and how many steps run at each."""
    if phase != "decode":
        return [(seq, 1)]
    if steps % 2:                                         # S + (T + 1) / 2 is whole
        return [(seq + (steps + 1) // 2, steps)]
    return [(seq + steps // 2, steps // 2), (seq + steps // 2 + 1, steps // 2)]


def llm_network(model: str | LLMConfig, seq: int | None = None, phase: str = "training", steps: int = 0,
                optimizer: str = "adamw") -> Network:
    """The layer table of ``model`` for ``phase`` with ``seq`` tokens (decode: after a prompt of
    ``seq``, ``steps`` steps); see the module docstring for what is counted and how."""
    cfg = LLMS[model] if isinstance(model, str) else model
    name = model if isinstance(model, str) else "model"
    if phase not in PHASES:
        raise InputError(name, "phase", f"expected one of {', '.join(PHASES)}, got {phase!r}")
    if cfg.kind == "vit":
        if seq not in (None, cfg.vit_tokens):
            raise InputError(name, "seq", f"ViT's sequence is its {cfg.vit_tokens} patch tokens, got {seq}")
        seq = cfg.vit_tokens
    if seq is None or seq < 1:
        raise InputError(name, "seq", f"expected a sequence length >= 1, got {seq}")
    if phase == "decode":
        if cfg.kind != "decoder":
            raise InputError(name, "phase", "decode is for the decoder models; an encoder runs one pass (prefill)")
        if steps < 1:
            raise InputError(name, "decode steps", f"expected >= 1, got {steps}")
    elif steps:
        raise InputError(name, "decode steps", f"only the decode phase has decode steps, got {steps} in {phase}")
    if seq + steps > cfg.max_positions:
        raise InputError(name, "seq", f"expected at most {cfg.max_positions} positions in all, got {seq} + {steps}")
    b = NetworkBuilder(optimizer=optimizer)
    repeat = steps if phase == "decode" else 1
    tokens = 1 if phase == "decode" else seq              # per sequence, per step
    d, hd, heads, kv = cfg.d_model, cfg.head_dim, cfg.heads, cfg.n_kv
    width = tokens * d
    norm = lambda: b.op(cfg.norm, width, channels=tokens)  # noqa: E731 - one row per token

    if cfg.kind == "vit":
        b.layer(conv("patch_embed", 3, d, cfg.patch, cfg.patch, 0, cfg.image))
        b.add(width)                                       # + position embedding (class-token concat: layout)
    else:
        b.op("embedding", width, name="embed_tokens")
        if cfg.learned_positions:
            b.op("embedding", width, name="embed_positions")
            b.add(width)
        if cfg.token_types:
            b.op("embedding", width, name="embed_token_types")
            b.add(width)
        if cfg.post_norm:
            norm()
    for i in range(cfg.layers):
        p = f"blocks.{i}"
        if not cfg.post_norm:
            norm()
        if cfg.fused_qkv:
            b.layer(linear(f"{p}.qkv", d, heads * hd + 2 * kv * hd, tokens))
        else:
            b.layer(linear(f"{p}.q", d, heads * hd, tokens))
            b.layer(linear(f"{p}.k", d, kv * hd, tokens))
            b.layer(linear(f"{p}.v", d, kv * hd, tokens))
        rows, group = tokens * (heads // kv), kv            # GQA: the query heads of a k/v head as rows
        for part, (kv_len, share) in enumerate(_attention_parts(phase, seq, steps)):
            suffix = ".hi" if part else ""
            scores = b.layer(replace(matmul(f"{p}.attn_qk{suffix}", rows, hd, kv_len, group), repeat=share))
            _repeat(b, share, b.op("scale", scores.outputs), b.op("softmax", scores.outputs, channels=heads * tokens))
            b.layer(replace(matmul(f"{p}.attn_av{suffix}", rows, kv_len, hd, group), repeat=share))
        b.layer(linear(f"{p}.o", heads * hd, d, tokens))
        b.add(width)
        norm()                                             # BERT: after the add; the others: before the MLP
        if cfg.experts:
            _moe(b, cfg, p, tokens)
        else:
            _mlp(b, cfg, p, tokens, p)
        b.add(width)
        if cfg.post_norm:
            norm()
    if cfg.kind == "vit":
        norm()                                             # over all tokens; the head reads the class token
        head = b.layer(linear("head", d, cfg.classes))
    elif cfg.kind == "bert":                               # the MLM head: transform, GELU, LN, decoder (tied)
        b.layer(linear("mlm.transform", d, d, tokens))
        b.op("gelu", width)
        b.op("layernorm", width, channels=tokens)
        head = b.layer(linear("lm_head", d, cfg.vocab, tokens))
    else:
        norm()
        head = b.layer(linear("lm_head", d, cfg.vocab, seq if phase == "training" else 1))
    if phase == "training":
        b.loss(head.outputs)
    net = b.net
    if repeat > 1:                                         # decode: every step the same (attention: its share)
        net[:] = [layer if ".attn_" in layer.name else replace(layer, repeat=layer.repeat * repeat) for layer in net]
        net.ops = [op if _is_attention(op) else replace(op, repeat=op.repeat * repeat) for op in net.ops]
    return net


def _is_attention(op: Op) -> bool:
    return ".attn_qk" in op.after


def _repeat(b: NetworkBuilder, share: int, *ops: Op) -> None:
    """Set the repeat of the just-recorded ``ops`` (the attention's operators of one part)."""
    for op in ops:
        index = b.net.ops.index(op)
        b.net.ops[index] = replace(op, repeat=share)


def _mlp(b: NetworkBuilder, cfg: LLMConfig, p: str, tokens: int, name: str, repeat: int = 1) -> None:
    """The MLP on ``tokens`` tokens (``repeat`` identical instances: the experts)."""
    d, f = cfg.d_model, cfg.ffn
    layer = lambda suffix, C, K: b.layer(replace(linear(f"{name}.{suffix}", C, K, tokens), repeat=repeat))  # noqa: E731
    op = lambda kind: _repeat(b, repeat, b.op(kind, tokens * f))  # noqa: E731
    if cfg.mlp == "swiglu":
        layer("gate", d, f)
        op("silu")
        layer("up", d, f)
        op("mul")
        layer("down", f, d)
    else:
        layer("fc1", d, f)
        op(cfg.mlp)
        layer("fc2", f, d)


def _moe(b: NetworkBuilder, cfg: LLMConfig, p: str, tokens: int) -> None:
    """Router, experts on their share of the tokens, the weighted sum of the top-k outputs."""
    router = b.layer(linear(f"{p}.router", cfg.d_model, cfg.experts, tokens))
    b.op("softmax", router.outputs, channels=tokens)
    if tokens * cfg.top_k % cfg.experts == 0:
        _mlp(b, cfg, p, tokens * cfg.top_k // cfg.experts, f"{p}.experts", repeat=cfg.experts)
    else:
        _mlp(b, cfg, p, tokens, f"{p}.experts", repeat=cfg.top_k)
    b.op("scale", tokens * cfg.top_k * cfg.d_model)             # each expert output times its routing weight
    _repeat(b, cfg.top_k - 1, b.add(tokens * cfg.d_model))       # the top-k outputs summed


def parameter_count(model: str | LLMConfig) -> int:
    """All parameters: the layer table's weights plus embeddings, biases and norms (module docstring)."""
    cfg = LLMS[model] if isinstance(model, str) else model
    net = llm_network(cfg, None if cfg.kind == "vit" else 8)      # 8 tokens: every expert gets its share
    weighted = [layer for layer in net if layer.has_weights]
    count = sum(layer.weights * layer.repeat for layer in weighted)
    d = cfg.d_model
    if cfg.kind != "vit" and not cfg.tied:
        count += cfg.vocab * d                                  # the token table, besides the untied head
    count += (cfg.learned_positions + cfg.token_types) * d
    if cfg.kind == "vit":
        count += (cfg.vit_tokens + 1) * d                        # position embedding and the class token
    if cfg.bias:
        count += sum(layer.K * layer.repeat for layer in weighted if layer.name != "lm_head" or cfg.kind == "bert")
    norms = sum(op.repeat for op in net.ops if op.kind in ("layernorm", "rmsnorm"))
    count += norms * d * (2 if cfg.norm == "layernorm" else 1)
    return count


def forward_macs(net: Network, batch: int = 1) -> int:
    """Forward MACs of one pass of a layer table (every layer and repeat)."""
    return batch * sum(layer.macs_per_sample * layer.repeat for layer in net)


def llm_trace(name: str, model: str, mode: str = "training", seq: int | None = None, steps: int = 0,
              batch: int = 1, method: str = "dense", nm: str = "dense") -> Workload:
    """A trace of ``model``: training, or inference as prefill (``steps`` 0) or decode."""
    if model not in LLMS:
        raise InputError(model, "", f"expected one of {', '.join(LLMS)}")
    if mode not in ("training", "inference"):
        raise InputError(model, "mode", f"expected training or inference, got {mode!r}")
    cfg = LLMS[model]
    phase = "training" if mode == "training" else "decode" if steps else "prefill"
    network = llm_network(model, seq, phase, steps)
    pattern = NMPattern.parse(nm)
    layers = sparsify(network, method, pattern)
    if cfg.kind != "vit":                                       # the token embedding's gradient flows back
        layers[0] = replace(layers[0], input_grad=1)
    seq = cfg.vit_tokens if cfg.kind == "vit" else seq
    label = "dense" if method == "dense" else f"{method.upper()} {pattern}"
    what = {"training": f"training on {seq} tokens per sequence (causal: the full S x S scores counted)",
            "prefill": f"prefill of {seq} tokens (causal: the full S x S scores counted; LM head on the last token)",
            "decode": f"decode of {steps} steps after a {seq}-token prompt, modelled as {steps} steps at the average "
                      f"context {seq} + ({steps} + 1) / 2 (exact in MACs and KV-cache bytes)"}[phase]
    if cfg.kind != "decoder" and phase == "prefill":
        what = f"inference, one pass over {seq} tokens"
    meta = WorkloadMeta(
        name=name, model=model, dataset="imagenet" if cfg.kind == "vit" else "text",
        input_shape=[3, cfg.image, cfg.image] if cfg.kind == "vit" else [seq],
        batch_size=batch, mode=mode, sparsity=Sparsity(method, str(pattern)),
        provenance=Provenance("none", f"analytic layer table sparseloom.workloads.llm ({cfg.source})", None,
                              {"sparseloom": version("sparseloom")}),
        description=f"{model} {label}, {what}, batch {batch}, shapes only",
        optimizer=network.optimizer, phase=phase)
    return Workload(meta, layers, ops=network.ops)
