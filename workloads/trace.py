"""The workload trace: a folder holding ``workload.yaml``, ``layers.csv``, and optional ``ops.csv``
(the non-GEMM operators, :mod:`.ops`) and ``masks.npz``.

``layers.csv`` has one row per layer with explicit shapes. ``C``/``K`` are input/output channels
(features for ``linear``; for ``matmul``, ``C`` is the reduction length and ``K`` the output
columns, summed over ``groups`` = heads), ``H``/``W`` the input height/width (tokens x 1 for
transformer layers). ``fwd_nm``/``bwd_nm`` give the N:M pattern of the weight operand in the
forward (groups along ``C``) and backward-data (groups along ``K``) GEMMs, ``dense`` otherwise.
``input_grad`` is 0 for a layer whose input needs no gradient (the first layer). Densities are
measured fractions of nonzeros, left empty where unknown.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal, Optional

from ..arch.schema import NMPattern
from ..core.atomic import write_bytes, write_text
from ..core.errors import InputError
from ..core.input_files import CSV_CAP, read_text
from ..core.typed_yaml import build, read_yaml, within
from .layer import Layer
from .ops import Op, ops_csv, read_ops

COLUMNS = ["name", "kind", "C", "K", "R", "S", "stride", "pad", "H", "W", "groups", "repeat",
           "fwd_nm", "bwd_nm", "input_grad", "act_density", "grad_density"]
INT_COLUMNS = ["C", "K", "R", "S", "stride", "pad", "H", "W", "groups", "repeat", "input_grad"]
# the largest value of each integer column (a 1M-channel layer, a 1M-token sequence, a 1024-wide
# window; every total of an iteration is then still checked against sim.limits)
INT_LIMITS = {"C": 1 << 20, "K": 1 << 20, "R": 1024, "S": 1024, "stride": 1024, "pad": 1024, "H": 1 << 20,
              "W": 1 << 20, "groups": 1 << 20, "repeat": 1 << 20, "input_grad": 1}
MAX_LAYERS = 20_000
MAX_BATCH = 1 << 20


@dataclass(frozen=True)
class Sparsity:
    method: Literal["dense", "srste", "bdwp", "unstructured"]
    nm: str

    def problems(self):
        try:
            NMPattern.parse(self.nm)
        except ValueError as exc:
            yield "nm", str(exc)


@dataclass(frozen=True)
class Provenance:
    masks: Literal["none", "trained", "pretrained", "seeded"]
    source: str
    seed: Optional[int] = None
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkloadMeta:
    """The contents of ``workload.yaml``."""

    name: str
    model: str
    dataset: str
    input_shape: list[int]
    batch_size: int = field(metadata=within(1, MAX_BATCH, "samples"))
    mode: Literal["training", "inference"]
    sparsity: Sparsity
    provenance: Provenance
    description: str = ""
    optimizer: Literal["sgd_momentum", "adamw"] = "sgd_momentum"   # the training step per weight
    phase: Optional[Literal["training", "prefill", "decode"]] = None   # an LLM trace's phase (:mod:`.llm`); older traces: none


@dataclass(frozen=True)
class Workload:
    meta: WorkloadMeta
    layers: list[Layer]
    path: Optional[Path] = None
    ops: list[Op] = field(default_factory=list)   # non-GEMM operators (``ops.csv``), forward order

    @property
    def name(self) -> str:
        return self.meta.name

    def with_batch(self, batch: int) -> "Workload":
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
            raise InputError("batch", "", f"expected a batch size from 1 to {MAX_BATCH:,}, got {batch!r}")
        return replace(self, meta=replace(self.meta, batch_size=batch))

    def masks(self) -> dict:
        """The trace's weight masks, validated ({} if it has none): (layer, "fwd"/"bwd") -> bool array."""
        from .masks import load_masks

        path = self.path / "masks.npz" if self.path else None
        unstructured = self.meta.sparsity.method == "unstructured"
        return load_masks(path, self.layers, unstructured) if path and path.exists() else {}

    def densified(self) -> "Workload":
        """The same workload trained densely: every layer's patterns set to dense."""
        dense = NMPattern(1, 1)
        layers = [replace(layer, fwd_nm=dense, bwd_nm=dense) for layer in self.layers]
        meta = replace(self.meta, sparsity=Sparsity("dense", "dense"))
        return replace(self, meta=meta, layers=layers)


def load_workload(folder: str | Path) -> Workload:
    """Load and validate a trace folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "", "expected a workload folder holding workload.yaml and layers.csv")
    meta_path = folder / "workload.yaml"
    meta = build(WorkloadMeta, read_yaml(meta_path), str(meta_path))
    layers = _read_layers(folder / "layers.csv")
    _check_meta(meta_path, meta, layers)
    ops = read_ops(folder / "ops.csv", [layer.name for layer in layers])
    if (folder / "masks.npz").exists():     # validated whatever the arch runs
        from .masks import check_masks

        check_masks(folder / "masks.npz", layers, meta.sparsity.method == "unstructured")
    return Workload(meta, layers, folder, ops)


def _check_meta(path: Path, meta: WorkloadMeta, layers: list[Layer]) -> None:
    """workload.yaml must describe its layers.csv: the patterns it states, its first layer's input."""
    stated = NMPattern.parse(meta.sparsity.nm)
    if meta.sparsity.method in ("dense", "unstructured") and not stated.dense:
        raise InputError(path, "sparsity.nm", f"expected dense for method {meta.sparsity.method}, got {meta.sparsity.nm!r}")
    for layer in layers:
        for col, pattern in (("fwd_nm", layer.fwd_nm), ("bwd_nm", layer.bwd_nm)):
            if not pattern.dense and pattern != stated:
                raise InputError(path, "sparsity.nm", f"layers.csv: layer {layer.name} {col} is {pattern}, but "
                                                      f"workload.yaml states {meta.sparsity.nm} (or dense)")
    first = layers[0]
    if len(meta.input_shape) == 3 and first.kind == "conv" and tuple(meta.input_shape) != (first.C, first.H, first.W):
        raise InputError(path, "input_shape", f"expected the first layer's C, H, W {[first.C, first.H, first.W]} "
                                              f"(layers.csv), got {meta.input_shape}")


def _read_layers(path: Path) -> list[Layer]:
    text = read_text(path, CSV_CAP)
    reader = csv.DictReader(io.StringIO(text), restkey=_EXTRA)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        found = [f"missing column {c!r}" for c in missing] + [f"unknown column {c!r}" for c in unknown]
        raise InputError(path, "header", f"{'; '.join(found)}; expected columns {', '.join(COLUMNS)}")
    layers = []
    for line, row in enumerate(reader, start=2):
        if len(layers) == MAX_LAYERS:
            raise InputError(path, f"line {line}", f"expected at most {MAX_LAYERS:,} layers")
        layers.append(_parse_row(row, path, line))
    if not layers:
        raise InputError(path, "", "expected at least one layer row")
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(path, f"name {dup!r}", "expected unique layer names")
    return layers


_EXTRA = "\x00extra"   # DictReader's key for cells beyond the header


def _parse_row(row: dict, path: Path, line: int) -> Layer:
    def where(col: str) -> str:
        return f"line {line}, column {col}"

    if _EXTRA in row:
        raise InputError(path, f"line {line}", f"expected {len(COLUMNS)} cells, found {len(COLUMNS) + len(row[_EXTRA])}")
    if None in row.values():
        missing = next(c for c in COLUMNS if row[c] is None)
        raise InputError(path, where(missing), f"expected {len(COLUMNS)} cells, the row ends before {missing}")
    values = {"name": row["name"], "kind": row["kind"]}
    if row["kind"] not in ("conv", "linear", "matmul"):
        raise InputError(path, where("kind"), f"expected conv, linear or matmul, got {row['kind']!r}")
    for col in INT_COLUMNS:
        try:
            values[col] = int(row[col])
        except (TypeError, ValueError):
            raise InputError(path, where(col), f"expected an integer, got {row[col][:40]!r}") from None
        if abs(values[col]) > INT_LIMITS[col]:
            raise InputError(path, where(col), f"expected at most {INT_LIMITS[col]:,}, got {values[col]:,}")
    for col in ("fwd_nm", "bwd_nm"):
        try:
            values[col] = NMPattern.parse(row[col] or "")
        except ValueError as exc:
            raise InputError(path, where(col), str(exc)) from None
    for col in ("act_density", "grad_density"):
        text = (row[col] or "").strip()
        try:
            values[col] = float(text) if text else None
        except ValueError:
            raise InputError(path, where(col), f"expected a fraction or an empty cell, got {text!r}") from None
    layer = Layer(**values)
    for col, expectation in layer.problems():
        raise InputError(path, where(col), expectation)
    return layer


def write_workload(workload: Workload, folder: str | Path, masks: bytes | None = None) -> Path:
    """Write a trace folder (atomically, file by file), with ``masks.npz`` content if given."""
    import yaml

    folder = Path(folder)
    if masks is not None:
        write_bytes(folder / "masks.npz", masks)
    meta = asdict(workload.meta)
    write_text(folder / "workload.yaml", yaml.safe_dump(meta, sort_keys=False))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for layer in workload.layers:
        row = asdict(layer)
        row["fwd_nm"], row["bwd_nm"] = str(layer.fwd_nm), str(layer.bwd_nm)
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    write_text(folder / "layers.csv", out.getvalue())
    if workload.ops:
        write_text(folder / "ops.csv", ops_csv(workload.ops))
    return folder


def nm_for(group_len: int, pattern: NMPattern) -> NMPattern:
    """The pattern a layer can carry when its groups run along ``group_len`` elements.

    A dimension that M does not divide (a 3-channel stem, a 10-class head) stays dense.
    """
    return pattern if group_len % pattern.m == 0 else NMPattern(1, 1)


__all__ = ["Layer", "Op", "Workload", "WorkloadMeta", "load_workload", "write_workload", "nm_for"]
