"""The declared result schema: every column of the two result tables and every total, with its
unit and meaning, in one place. ``Result.gemms`` has exactly :data:`GEMM` (``buffer_<name>_bytes``
once per buffer of the arch), ``Result.side`` exactly :data:`SIDE`, ``Result.totals`` exactly
:data:`TOTALS`; the sweep's metrics are the totals' names. ``tests/test_columns.py`` holds every
result to it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    meaning: str


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


STALL_CAUSES = ("fill_drain", "acc_hazard", "buffer", "dram", "pruning", "vector", "control", "update")
GEMM_STALLS = STALL_CAUSES[:-1]
"""The causes a GEMM row counts (the update engine's exposure is an iteration total only)."""

_ROW_KEYS = _cols(
    ("layer", "index", "the layer's position in the trace"),
    ("name", "text", "the layer's name"),
    ("phase", "text", "FF, BP, WU (array GEMMs); PRUNE, UPDATE (side engines); FF, BP (vector jobs)"),
    ("engine", "text", "array or vector (GEMMs: the dataflow vector_lanes runs on the vector engine); pruning, update or vector (side jobs)"),
)

GEMM = _ROW_KEYS + _cols(
    ("dataflow", "text", "the dataflow the GEMM runs in"),
    ("chunk", "count", "the mapping's chunk, as its dataflow defines it"),
    ("n_outer", "bool", "loop order: columns of B outermost (else rows of A)"),
    ("interleave", "bool", "SAT's interleave mapping on for this GEMM"),
    ("pattern", "text", "the N:M pattern B is executed in"),
    ("stored", "text", "the pattern B is stored and moved in"),
    ("m", "count", "rows of A and C"),
    ("n", "count", "columns of B and C"),
    ("k", "count", "dense reduction length"),
    ("k_eff", "count", "reduction length the array executes"),
    ("count", "count", "identical instances of the GEMM"),
    ("macs", "MACs", "MACs issued, all instances"),
    ("useful_macs", "MACs", "MACs on the workload's own nonzeros"),
    ("dense_macs", "MACs", "MACs of the dense GEMM"),
    ("cycles", "cycles", "the GEMM's cycles in the iteration"),
    ("busy", "cycles", "cycles the array issues MACs"),
    *((f"stall_{c}", "cycles", f"cycles lost to {c.replace('_', ' ')}") for c in GEMM_STALLS),
    ("dram_read_bytes", "B", "DRAM bytes read, re-fetches included"),
    ("dram_write_bytes", "B", "DRAM bytes written"),
    ("compulsory_bytes", "B", "every DRAM operand moved once"),
    ("buffer_<name>_bytes", "B", "bytes read and written at each on-chip buffer"),
    ("energy_compute_pj", "pJ", "MAC energy"),
    ("energy_movement_pj", "pJ", "operands moving inside the array: M activation lanes and the multiplexer per MAC slot, weights and indices down the PE columns"),
    ("energy_buffer_pj", "pJ", "buffer access energy"),
    ("energy_dram_pj", "pJ", "DRAM access energy"),
)

SIDE = _ROW_KEYS + _cols(
    ("cycles", "cycles", "the job's cycles on its engine, DRAM waits included"),
    ("busy", "cycles", "cycles the engine computes"),
    ("stall_dram", "cycles", "cycles waiting for DRAM"),
    ("stall_control", "cycles", "the job's launch (vector jobs)"),
    ("dram_read_bytes", "B", "DRAM bytes read"),
    ("dram_write_bytes", "B", "DRAM bytes written (the weight copies the GEMMs read, master weights)"),
    ("compulsory_bytes", "B", "the same: a side job moves each byte once"),
    ("energy_side_pj", "pJ", "pruning, update or vector-engine energy"),
    ("energy_dram_pj", "pJ", "DRAM access energy"),
)

TOTALS = _cols(
    ("cycles", "cycles", "one iteration: GEMMs, and the non-GEMM time the array waits out"),
    ("time_ms", "ms", "one iteration at the arch's clock"),
    ("array_cycles", "cycles", "the GEMM rows' cycles, their waits for other engines included"),
    ("gemm_cycles", "cycles", "cycles the array spends on GEMMs (no waits for other engines, no control)"),
    ("non_gemm_cycles", "cycles", "the rest of the iteration: vector operators, exposed optimizer and pruning, control"),
    ("vector_busy_cycles", "cycles", "cycles the vector engine computes or waits for DRAM, overlapped or not"),
    ("macs", "MACs", "MACs issued"),
    ("useful_macs", "MACs", "MACs on the workload's own nonzeros"),
    ("dense_macs", "MACs", "MACs of the dense iteration"),
    ("utilisation", "fraction", "MACs the array issues / (PEs x cycles); GEMMs on the vector lanes not counted"),
    ("effective_utilisation", "fraction", "useful MACs on the array / (PEs x cycles)"),
    ("dense_equivalent_tmacs", "TMAC/s", "dense MACs per second"),
    ("dram_bytes", "B", "DRAM bytes moved"),
    ("compulsory_bytes", "B", "every DRAM operand moved once"),
    ("onchip_saved_bytes", "B", "DRAM bytes activations kept on chip for the next layer save"),
    *((f"stall_{c}", "cycles", f"cycles lost to {c.replace('_', ' ')}") for c in STALL_CAUSES),
    ("energy_uj", "uJ", "the counted actions' energy (the parts below); static, clock and DRAM background power over the time come on top (explore.power)"),
    ("energy_compute_uj", "uJ", "MAC energy"),
    ("energy_movement_uj", "uJ", "operand movement inside the array"),
    ("energy_buffer_uj", "uJ", "buffer access energy"),
    ("energy_dram_uj", "uJ", "DRAM access energy"),
    ("energy_vector_uj", "uJ", "vector-engine energy"),
    ("energy_side_uj", "uJ", "pruning and weight-update energy"),
)


def gemm_columns(buffer_names: list[str]) -> list[str]:
    """The GEMM table's columns for an arch with these buffers."""
    names = []
    for c in GEMM:
        names += [f"buffer_{b}_bytes" for b in buffer_names] if c.name == "buffer_<name>_bytes" else [c.name]
    return names


def side_columns() -> list[str]:
    return [c.name for c in SIDE]


def total_names() -> tuple[str, ...]:
    return tuple(c.name for c in TOTALS)

RUN = _cols(
    ("iterations", "count", "iterations of the whole run under its sparsity schedule (:mod:`.run`)"),
    ("time_s", "s", "the run: each phase's iterations x its iteration's time, summed"),
    ("energy_j", "J", "the run: each phase's iterations x its iteration's energy (simulate: the power model's total), summed"),
    ("dense_time_s", "s", "the same iterations all dense"),
    ("dense_energy_j", "J", "the same iterations all dense"),
    ("average_speedup", "x", "dense_time_s / time_s"),
    ("average_ideal_speedup", "x", "iterations / sum over phases of iterations / the phase's whole-iteration ideal"),
    ("above_ideal", "bool", "average_speedup above its ideal: a model error to report"),
    ("steady_state_speedup", "x", "one iteration of the trace's own pattern over dense"),
    ("phases", "list", "per phase: name, start, end (exclusive), nm run, decay, time_ms and energy_uj of one "
                       "iteration, speedup and ideal over dense, iterations"),
)
"""The ``run`` entry of ``simulate``'s JSON where the trace carries ``run_schedule.yaml``."""


INTEGER_UNITS = ("index", "count", "cycles", "MACs", "B")


_UNITS = {c.name: c.unit for c in (*GEMM, *SIDE, *TOTALS)}


def is_integer(name: str) -> bool:
    """Whether column or total ``name`` counts whole things (indices, counts, cycles, MACs, bytes)."""
    unit = _UNITS.get(name, "B" if name.startswith("buffer_") and name.endswith("_bytes") else "")
    return unit in INTEGER_UNITS


def as_integers(values: dict) -> dict:
    """``values`` with the whole-valued floats of integer columns as ints (the simulator computes
    some byte counts in floating point)."""
    return {k: int(v) if is_integer(k) and isinstance(v, float) and v.is_integer() else v for k, v in values.items()}
