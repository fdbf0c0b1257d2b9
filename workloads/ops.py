"""The non-GEMM operators of a trace (``ops.csv``): what they are, how many elements, where they sit.

One row per operator instance in forward execution order: ``kind`` (one of :data:`OP_KINDS`),
``after`` (the name of the last GEMM layer of ``layers.csv`` that runs before it in the forward
pass; empty for an operator before the first GEMM), ``elements`` (elements of one input tensor
per sample; an ``add`` reads two such tensors), ``out_elements`` (elements of its output per
sample: equal for elementwise operators, smaller for pooling and the loss), ``channels`` (the
groups a normalisation reduces over: BN channels, LayerNorm rows per sample; 0 where none) and
``repeat`` (identical instances). What an operator costs in each pass, on which engine and with
which fusion is the dataflow layer's business (:mod:`sparseloom.dataflow.ops`); the trace only
counts. A trace without ``ops.csv`` (older traces) has no operators: its results say so.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError
from ..core.input_files import CSV_CAP, read_text

OP_KINDS = ("bn", "relu", "add", "maxpool", "avgpool", "softmax", "layernorm", "gelu", "scale", "loss",
            "rmsnorm", "silu", "mul", "embedding")
"""bn: batch-norm (training: batch statistics; ``channels`` = its channels); relu (also ReLU6 and
clamps); add: residual add of two equal tensors (also a position embedding; a broadcast bias is
fused into its GEMM and is no operator); maxpool, avgpool (windowed, global/adaptive, or mean
pooling over tokens; ``out_elements`` the pooled size); softmax (attention rows: ``channels`` =
heads x tokens); layernorm (``channels`` = rows, i.e. tokens); gelu; scale: a multiply by a
constant (attention's 1/sqrt(d)); loss: softmax cross-entropy over the logits (``elements`` =
classes, ``out_elements`` 1), the last operator of a training trace, after the classifier; for an
embedding model (MiniLM) the contrastive loss on its pooled embedding (``elements`` = its width).
rmsnorm (LLaMA-style: ``channels`` = rows); silu; mul: an elementwise product of two equal
tensors (a gated MLP's gate x up); embedding: a table lookup (``elements`` = ``out_elements`` =
tokens x width per sample; it reads the looked-up rows and writes them).

Generators name an operator after the layer it follows and its kind (``layer1.0.conv1.bn``;
``.2`` where that repeats), see :class:`~.network.NetworkBuilder`; names only need to be unique."""

OP_COLUMNS = ["name", "kind", "after", "elements", "out_elements", "channels", "repeat"]
_INT_COLUMNS = ["elements", "out_elements", "channels", "repeat"]


@dataclass(frozen=True)
class Op:
    """One row of ``ops.csv``."""

    name: str
    kind: str
    after: str
    elements: int
    out_elements: int
    channels: int = 0
    repeat: int = 1

    def problems(self):
        """(column, expectation) pairs for impossible values."""
        if self.kind not in OP_KINDS:
            yield "kind", f"expected one of {', '.join(OP_KINDS)}, got {self.kind!r}"
        for col in ("elements", "out_elements", "repeat"):
            if getattr(self, col) < 1:
                yield col, f"expected an integer >= 1, got {getattr(self, col)}"
        if self.channels < 0:
            yield "channels", f"expected an integer >= 0, got {self.channels}"
        if self.out_elements > self.elements:
            yield "out_elements", f"expected at most elements ({self.elements}), got {self.out_elements}"


def read_ops(path: Path, layer_names: list[str]) -> list[Op]:
    """Read and validate ``ops.csv``; ``after`` must name a layer of the trace (or be empty)."""
    if not path.exists():
        return []
    reader = csv.DictReader(io.StringIO(read_text(path, CSV_CAP)), restkey="\x00extra")
    header = reader.fieldnames or []
    if header != OP_COLUMNS:
        raise InputError(path, "header", f"expected columns {', '.join(OP_COLUMNS)}, got {', '.join(header) or 'none'}")
    known = set(layer_names)
    ops, names = [], set()
    for line, row in enumerate(reader, start=2):
        if "\x00extra" in row or None in row.values():
            raise InputError(path, f"line {line}", f"expected {len(OP_COLUMNS)} cells")
        values: dict = {"name": row["name"], "kind": row["kind"], "after": row["after"] or ""}
        for col in _INT_COLUMNS:
            try:
                values[col] = int(row[col])
            except (TypeError, ValueError):
                raise InputError(path, f"line {line}, column {col}", f"expected an integer, got {row[col][:40]!r}") from None
            limit = 1 << 20 if col == "repeat" else 1 << 36      # 64 G elements per sample
            if abs(values[col]) > limit:
                raise InputError(path, f"line {line}, column {col}", f"expected at most {limit:,}, got {values[col]:,}")
        op = Op(**values)
        for col, expectation in op.problems():
            raise InputError(path, f"line {line}, column {col}", expectation)
        if op.after and op.after not in known:
            raise InputError(path, f"line {line}, column after", f"expected the name of a layer in layers.csv, got {op.after!r}")
        if op.name in names:
            raise InputError(path, f"line {line}, column name", f"expected unique operator names, {op.name!r} repeats")
        names.add(op.name)
        ops.append(op)
    _check_order(path, ops, layer_names)
    return ops


def _check_order(path: Path, ops: list[Op], layer_names: list[str]) -> None:
    """Operators are listed in forward order, so their ``after`` layers never go backwards."""
    position = {name: i for i, name in enumerate(layer_names)}
    last = -1
    for line, op in enumerate(ops, start=2):
        where = position.get(op.after, -1)
        if where < last:
            raise InputError(path, f"line {line}, column after",
                             f"expected operators in forward order: {op.after!r} comes before an earlier row's layer")
        last = where


def ops_csv(ops: list[Op]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OP_COLUMNS)
    for op in ops:
        writer.writerow([getattr(op, c) for c in OP_COLUMNS])
    return out.getvalue()
