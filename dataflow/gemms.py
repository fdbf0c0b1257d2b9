"""The GEMMs of one training (or inference) iteration, as one columnar table.

Per layer (im2col, C[M x N] += A[M x K] B[K x N], per group; ``count`` = groups x repeat):

=====  ============  ============  ============  ======================================
phase  M             N             K             sparse operand B
=====  ============  ============  ============  ======================================
FF     B*P*Q         K_out         C*R*S         weights, N:M groups along C (fwd mask)
BP     B*P*Q         C*R*S         K_out         weights^T, groups along K_out (bwd mask)
WU     K_out         C*R*S         B*P*Q         none (dense); for a matmul: 2nd operand
=====  ============  ============  ============  ======================================

Operand roles map to buffers: A -> ``input``, B -> ``weight``, C -> ``output``. DRAM tensors are
the raw tensors (im2col happens on chip): FF reads X and W and writes Y; BP reads dY and W and
writes dX; WU reads dY and X and writes dW in the accumulator datatype.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property, lru_cache
from operator import attrgetter

import numpy as np

from ..arch.schema import Arch, NMPattern
from ..workloads.trace import Layer, Workload
from .flows import flow_codes
from .mapping import default_dataflow
from .formats import MASK_FORMATS, nm
from .residency import resident_outputs
from .tiling import default_chunk

PHASES = ("FF", "BP", "WU")
DENSE = NMPattern(1, 1)


def execution_pattern(arch: Arch, pattern: NMPattern) -> NMPattern:
    """The sparsest pattern the array supports that still holds every ``pattern``-sparse tensor.

    A 2:8 tensor is also 2:4-sparse, so a 2:4 array runs it at 2:4 speed; an array without a
    matching pattern runs it dense (multiplying the zeros).
    """
    return _sparsest_holding(tuple(arch.sparsity.patterns), pattern)


@lru_cache(maxsize=1024)
def _sparsest_holding(supported: tuple[NMPattern, ...], pattern: NMPattern) -> NMPattern:
    return min((p for p in supported if p.satisfied_by(pattern)), key=lambda p: (p.density, p.m))


_columns_of = attrgetter(*(f.name for f in fields(Layer) if f.name not in ("name", "fwd_nm", "bwd_nm")))


def _shape_of(layer: Layer) -> tuple:
    """What a layer's GEMMs depend on: every column of its row but the name (its patterns as
    their N and M, which hash faster than the patterns)."""
    return _columns_of(layer), layer.fwd_nm.n, layer.fwd_nm.m, layer.bwd_nm.n, layer.bwd_nm.m


@dataclass(frozen=True)
class GemmTable:
    """One row per (layer, phase); every field an array of that length."""

    layer: np.ndarray        # index into the workload's layers
    phase: np.ndarray        # "FF" | "BP" | "WU"
    dataflow: np.ndarray     # a name in dataflow.flows.FLOWS
    pattern: np.ndarray      # executed pattern of B, as text
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray            # dense reduction length
    k_eff: np.ndarray        # reduction length the array executes (compressed)
    k_useful: np.ndarray     # reduction length holding the workload's own nonzeros
    count: np.ndarray        # identical GEMMs (groups x repeat)
    a_elems: np.ndarray      # DRAM tensor read through the input buffer
    b_elems: np.ndarray      # DRAM tensor read through the weight buffer (dense count)
    b_compressed: np.ndarray  # 1 if B is executed compressed with indices (``pattern`` is sparse)
    stored: np.ndarray       # pattern B is stored and moved in (DRAM, weight buffer); "dense" if not compressed
    k_stored: np.ndarray     # reduction length of the stored copy
    stored_meta_bits: np.ndarray  # metadata bits per stored value
    c_elems: np.ndarray      # DRAM tensor written from the output buffer
    c_acc: np.ndarray        # 1 if C is written in the accumulator datatype
    a_density: np.ndarray    # measured nonzero fraction of A (activations in FF, dY in BP and WU); 1 if unknown
    meta_bits: np.ndarray    # metadata bits stored per executed slot of a compressed B
    chunk: np.ndarray        # length of the dataflow's streamed axis per chunk (see tiling)
    n_outer: np.ndarray      # loop order: True walks the columns of B outermost, False the rows of A
    interleave: np.ndarray   # SAT's interleave mapping on for this GEMM
    a_onchip: np.ndarray     # A is the previous layer's output, still on chip (:mod:`.residency`)
    c_onchip: np.ndarray     # C stays on chip for the next layer and is not written to DRAM

    def __len__(self) -> int:
        return len(self.m)

    @cached_property
    def flow_code(self) -> np.ndarray:
        """Per GEMM, ``dataflow`` as :func:`~.flows.flow_codes` (what :func:`~.flows.per_flow`
        splits by): derived on first read, kept by :meth:`take`."""
        return flow_codes(self.dataflow)

    def take(self, index: np.ndarray, **columns: np.ndarray) -> "GemmTable":
        """The rows at ``index`` (positions, repeats allowed), with ``columns`` given instead of
        gathered (by ``ndarray.take``: on text columns several times faster than ``[index]``);
        ``flow_code`` may be given with ``dataflow``."""
        index = np.asarray(index)
        index = np.flatnonzero(index) if index.dtype == bool else index
        table = GemmTable(**{name: columns[name] if name in columns else getattr(self, name).take(index)
                             for name in self.__dataclass_fields__})
        codes = columns.get("flow_code")
        if codes is None and "dataflow" not in columns and "flow_code" in vars(self):
            codes = self.flow_code.take(index)
        if codes is not None:
            vars(table)["flow_code"] = codes
        return table

    def mapped(self, dataflow: np.ndarray, chunk: np.ndarray, n_outer: np.ndarray,
               interleave: np.ndarray) -> "GemmTable":
        """The same GEMMs under another mapping."""
        return replace(self, dataflow=np.asarray(dataflow), chunk=np.asarray(chunk, np.int64),
                       n_outer=np.asarray(n_outer, bool), interleave=np.asarray(interleave, bool))


def build_gemms(workload: Workload, arch: Arch, executes: dict | None = None) -> GemmTable:
    """All array GEMMs of one iteration of ``workload`` on ``arch``, under the default mapping.

    ``executes`` maps ``(layer index, phase)`` to the N:M pattern a GEMM's sparse operand is
    executed in (default: :func:`execution_pattern`); a schedule file sets it.
    """
    batch = workload.meta.batch_size
    training = workload.meta.mode == "training"
    executes = executes or {}
    shapes, distinct = {}, {}        # layers of one shape share their rows
    firsts, rows, layers, which = [], [], [], []   # each shape's first layer; each distinct row's key
    for index, layer in enumerate(workload.layers):
        shape = shapes.setdefault(_shape_of(layer), len(shapes))
        if shape == len(firsts):
            firsts.append(layer)
        for phase in PHASES:
            if phase == "FF" or (training and (phase == "WU" or layer.input_grad)):
                key = (shape, phase, executes.get((index, phase)) if executes else None)
                row = distinct.get(key)
                if row is None:
                    row = distinct[key] = len(rows)
                    rows.append(key)
                layers.append(index)
                which.append(row)
    which = np.array(which, np.int64)
    cols = {name: column[which] for name, column in _columns(firsts, rows, batch, arch).items()}
    cols["layer"] = np.array(layers)
    if workload.meta.sparsity.method == "unstructured" and arch.sparsity.unstructured_format != "none":
        _unstructured(cols, workload, arch)
    resident = resident_outputs(workload, arch)
    forward = cols["phase"] == "FF"
    previous = np.maximum(cols["layer"] - 1, 0)
    cols["a_onchip"] = forward & (cols["layer"] > 0) & resident[previous]
    cols["c_onchip"] = forward & resident[cols["layer"]] & (not training)
    cols["n_outer"] = np.zeros(len(which), bool)
    cols["interleave"] = np.full(len(which), arch.dataflow_options.interleave)
    cols["chunk"] = cols["m"].copy()
    table = GemmTable(**cols)
    chunked = replace(table, chunk=default_chunk(table, arch))
    vars(chunked)["flow_code"] = table.flow_code          # the same dataflows: their codes kept
    return chunked


def _unstructured(cols: dict, workload: Workload, arch: Arch) -> None:
    """Compress FF and BP weights by their real masks in the arch's unstructured format
    (:mod:`.formats`); stored as executed, or with ``sparsity.load_compressed`` stored in that
    format and expanded to dense before the array (Flash-LLM: load-as-sparse, compute-as-dense)."""
    masks = workload.masks()
    fmt, R, C = MASK_FORMATS[arch.sparsity.unstructured_format], arch.array.rows, arch.array.cols
    dense_compute = arch.sparsity.load_compressed
    for name in ("k_useful", "k_stored", "meta_bits", "stored_meta_bits"):
        cols[name] = cols[name].astype(float)
    for name in ("pattern", "stored"):
        cols[name] = cols[name].astype(object)
    for i, (layer, phase) in enumerate(zip(cols["layer"], cols["phase"])):
        mask = masks.get((workload.layers[layer].name, "fwd"))
        if mask is None or phase == "WU":
            continue
        flat = mask.reshape(mask.shape[0], -1)
        matrix = flat.T if phase == "FF" else flat            # [reduction x columns] of this GEMM
        if dense_compute:
            cols["k_stored"][i], cols["stored_meta_bits"][i] = fmt.stored(matrix, R, C)
            cols["k_useful"][i] = matrix.sum(0).mean()
            cols["stored"][i] = "unstructured"
            continue
        done = fmt.execute(matrix, R, C)
        cols["k_eff"][i] = cols["k_stored"][i] = done.k_exec
        cols["k_useful"][i] = done.k_useful
        cols["pattern"][i] = cols["stored"][i] = "unstructured"
        cols["b_compressed"][i] = 1
        cols["meta_bits"][i] = cols["stored_meta_bits"][i] = done.meta_bits


def gemm_names(g: GemmTable, workload: Workload) -> list[str]:
    return [f"layer {workload.layers[i].name} {p}" for i, p in zip(g.layer, g.phase)]


def _columns(shapes: list[Layer], keys: list[tuple[int, str, NMPattern | None]], batch: int,
             arch: Arch) -> dict[str, np.ndarray]:
    """The columns of the GEMMs ``keys``: a layer of ``shapes``, a phase, the pattern the sparse
    operand executes in (None: :func:`execution_pattern`); the table in the module docstring."""
    shape = np.array([s for s, _, _ in keys])
    phase = np.array([p for _, p, _ in keys])
    rows = [(shapes[s], p, executes) for s, p, executes in keys]
    ff, bp = phase == "FF", phase == "BP"
    pixels, cg, kg, window, x, y, w, count = np.array([_sizes(layer, batch) for layer in shapes], np.int64)[shape].T
    by_phase = lambda f, b, u: np.where(ff, f, np.where(bp, b, u))     # the FF, BP or WU value of each row
    density = [layer.act_density if p == "FF" else layer.grad_density for layer, p, _ in rows]
    flows = {p: default_dataflow(arch, p) for p in PHASES}
    return dict(phase=phase, dataflow=np.array([flows[p] for p in phase.tolist()]),
                m=np.where(ff | bp, pixels, kg), n=np.where(ff, kg, cg * window), k=by_phase(cg * window, kg, pixels),
                count=count, a_elems=np.where(ff, x, y), b_elems=np.where(ff | bp, w, x), c_elems=by_phase(y, x, w),
                c_acc=np.array([int(layer.has_weights and p == "WU") for layer, p, _ in rows]),
                a_density=np.array([1.0 if d is None else d for d in density]),
                **_pattern_columns(rows, by_phase(cg, kg, pixels), np.where(ff, window, 1), arch))


def _pattern_columns(rows: list[tuple[Layer, str, NMPattern | None]], group_len: np.ndarray, reps: np.ndarray,
                     arch: Arch) -> dict[str, np.ndarray]:
    """The columns that follow from the patterns of the GEMMs' sparse operands (``group_len``
    grouped elements in ``reps`` runs along the reduction), evaluated once per kind of row: its
    own pattern, whether it reads weights, the pattern a schedule file has it execute in."""
    kinds, kind = {}, []        # a kind: its own pattern's N and M (faster to hash than the pattern) and the rest
    for layer, phase, executes in rows:
        own = layer.fwd_nm if phase == "FF" else layer.bwd_nm if phase == "BP" else DENSE
        kind.append(kinds.setdefault((own.n, own.m, layer.has_weights and phase != "WU", executes), len(kinds)))
    kind = np.array(kind)
    fixed = arch.sparsity.index_bits_per_nonzero
    cols = {name: np.zeros(len(rows), np.int64) for name in ("k_eff", "k_useful", "k_stored")}
    facts = []
    for number, (n, m, weights, executes) in enumerate(kinds):
        own = NMPattern(n, m)
        executed = (executes or execution_pattern(arch, own)) if weights else DENSE
        # stored as executed, or (load-as-sparse) in the operand's own, sparser pattern
        stored = own if weights and arch.sparsity.load_compressed and own.density < executed.density else executed
        at = kind == number
        for name, pattern in (("k_eff", executed), ("k_useful", own), ("k_stored", stored)):
            cols[name][at] = nm.reduction(group_len[at], reps[at], pattern)
        facts.append((str(executed), str(stored), int(not executed.dense), float(nm.index_bits(executed, fixed)),
                      float(nm.index_bits(stored, fixed if stored == executed else None))))
    for name, values in zip(("pattern", "stored", "b_compressed", "meta_bits", "stored_meta_bits"), zip(*facts)):
        cols[name] = np.array(values)[kind]
    return cols


def _sizes(layer: Layer, batch: int) -> tuple[int, ...]:
    """Per GEMM of ``layer``: its pixels (rows of A in FF), channels and kernels per group, window,
    tensors X, Y and W (elements), and the GEMM's instances."""
    g = layer.groups
    cg, kg = layer.C // g, layer.K // g
    # a matmul's second operand differs per sample: one GEMM per sample instead of a taller one
    per_gemm = 1 if layer.kind == "matmul" else batch
    return (per_gemm * layer.P * layer.Q, cg, kg, layer.R * layer.S, per_gemm * cg * layer.H * layer.W,
            per_gemm * kg * layer.P * layer.Q, kg * cg * layer.R * layer.S, g * layer.repeat * (batch // per_gemm))
