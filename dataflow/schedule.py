"""The schedule both fidelities execute: a mapping per GEMM and the order the GEMMs run in.

With offline scheduling (SAT) the mapping of every layer and phase comes from the search over
the cost model; without it, from the fixed default rule (FF/BP weight-stationary, WU output-
stationary, chunks as long as the buffers allow). Training order: FF for layers 0..L-1, then BP
and WU layer by layer from L-1 down to 0.

A schedule is also a file (:func:`schedule_yaml`, :func:`load_schedule`): per GEMM in execution
order its layer, phase, dataflow, chunk, loop order, interleave and the N:M pattern its sparse
operand executes in (which fixes the weight copy it reads and the pruning unit writes). A person
may edit the mapping and the executed pattern; the loader checks every entry against the arch
and the workload and names the GEMM and the limit broken. The order is the training order.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arch.schema import Arch, NMPattern
from ..core.errors import InputError
from ..core.reuse import reused
from ..core.typed_yaml import read_yaml
from ..workloads.trace import Workload
from .flows import FLOWS
from .gemms import GemmTable, build_gemms, gemm_names
from .ops import NONE, JobPlaces, place_jobs
from .search import Choice, Cost, search
from .tiling import capacity_error, no_mapping_error, tile_fits


@dataclass(frozen=True)
class Schedule:
    gemms: GemmTable          # the chosen mapping of every GEMM
    order: np.ndarray         # rows of ``gemms`` in execution order
    choice: Choice | None     # the search behind it (None without offline scheduling or when loaded)
    source: str = ""          # the file it was loaded from ("" if made by the compiler)
    vector: JobPlaces | None = None   # the vector-engine jobs and their places among the GEMMs


def _with_jobs(schedule: Schedule, workload: Workload, arch: Arch) -> Schedule:
    return replace(schedule, vector=place_jobs(workload, arch, schedule.gemms, schedule.order))


GEMM_INPUTS = ("array.rows", "array.cols", "array.dataflows", "array.operand_dtype", "array.accumulator_dtype",
               "array.accumulator_latency_cycles", "sparsity.nm_patterns", "sparsity.unstructured_format",
               "sparsity.load_compressed", "sparsity.index_bits_per_nonzero", "buffers.holds", "buffers.size_kib",
               "buffers.double_buffered", "dataflow_options.interleave")
"""The arch values :func:`build_gemms` reads (:func:`~sparseloom.core.reuse.reused`): not the PE's
pipeline depth, its weight double buffer, the buffers' ports or the vector engine."""


def make_schedule(workload: Workload, arch: Arch, cost: Cost) -> Schedule:
    default = reused("gemms", (workload,), arch, GEMM_INPUTS, lambda: build_gemms(workload, arch))
    order = training_order(default)
    if not arch.dataflow_options.offline_schedule:
        fits = tile_fits(default, arch)
        if not fits.all():
            first = int(np.argmin(fits))
            raise capacity_error(default.take(np.array([first])), arch, gemm_names(default, workload)[first])
        return _with_jobs(Schedule(default, order, None), workload, arch)
    choice = search(default, arch, cost)
    if (choice.best < 0).any():
        missing = int(np.flatnonzero(choice.best < 0)[0])
        raise no_mapping_error(default.take(np.array([missing])), arch, gemm_names(default, workload)[missing])
    return _with_jobs(Schedule(choice.chosen(default), order, choice), workload, arch)


def training_order(g: GemmTable) -> np.ndarray:
    """GEMM rows in execution order: FF forward, then BP and WU layer by layer backward."""
    forward, backward = np.flatnonzero(g.phase == "FF"), np.flatnonzero(g.phase != "FF")
    forward = forward[np.argsort(g.layer[forward], kind="stable")]
    backward = backward[np.lexsort((g.phase[backward] != "BP", -g.layer[backward]))]   # stable, like sorted
    return np.r_[forward, backward].astype(np.int64)


SCHEDULE_VERSION = 1
LOOP_ORDERS = {False: "rows_of_a", True: "columns_of_b"}


def schedule_yaml(schedule: Schedule, workload: Workload, arch: Arch) -> str:
    """The schedule as a YAML file a person can read, edit, pin and load again."""
    import yaml

    g = schedule.gemms
    entries = []
    for i in schedule.order:
        entries.append({"layer": workload.layers[g.layer[i]].name, "phase": str(g.phase[i]),
                        "dataflow": str(g.dataflow[i]), "chunk": int(g.chunk[i]),
                        "loop_order": LOOP_ORDERS[bool(g.n_outer[i])], "interleave": bool(g.interleave[i]),
                        "executes": str(g.pattern[i])})
    head = (f"# sparseloom schedule of {workload.meta.name} on {arch.name}: one entry per GEMM in execution order.\n"
            "# Editable: dataflow (one the arch lists), chunk (its meaning per dataflow: weight_stationary rows of A\n"
            "# per visit of the weight tiles, input_stationary columns of B per visit of the input tiles,\n"
            "# output_stationary output tiles per interleave group), loop_order (rows_of_a | columns_of_b),\n"
            "# interleave (only if the arch's dataflow_options.interleave is on) and executes (an N:M pattern the\n"
            "# arch supports that holds the layer's own pattern; it fixes the copy the GEMM reads).\n")
    head += ("# vector_jobs: the non-GEMM operators, one job each (fused where the arch's vector_engine.fusion\n"
             "# says), with the GEMM each waits for and the GEMM that waits for it. Derived from the arch and the\n"
             "# trace, not editable here: a loaded schedule must list the same jobs (change the fusion instead).\n")
    body = {"schedule": SCHEDULE_VERSION, "arch": arch.name, "workload": workload.meta.name,
            "batch": workload.meta.batch_size, "gemms": entries, "vector_jobs": _job_entries(schedule, workload)}
    return head + yaml.safe_dump(body, sort_keys=False, width=120)


def _job_entries(schedule: Schedule, workload: Workload) -> list[dict]:
    names = gemm_names(schedule.gemms, workload)
    v = schedule.vector
    return [{"ops": job.name, "phase": job.phase, "after": names[w] if w != NONE else "start",
             "before": names[b] if b != NONE else "end"} for job, w, b in zip(v.jobs, v.wait_for, v.blocks)]


def _check_jobs(path, listed, schedule: Schedule, workload: Workload, arch: Arch) -> None:
    if listed is None:
        return
    derived = _job_entries(schedule, workload)
    if not isinstance(listed, list) or len(listed) != len(derived):
        raise InputError(path, "vector_jobs", f"expected the {len(derived)} vector jobs {arch.name}'s fusion "
                                              f"({arch.vector_engine.fusion}) gives, got "
                                              f"{len(listed) if isinstance(listed, list) else type(listed).__name__}")
    for position, (got, want) in enumerate(zip(listed, derived)):
        if got != want:
            raise InputError(path, f"vector_jobs[{position}]", f"expected {want} (jobs follow from the arch's "
                                                               f"vector_engine.fusion; change it there), got {got}")


def load_schedule(path, workload: Workload, arch: Arch) -> Schedule:
    """Read a schedule file for ``workload`` on ``arch``; every entry is checked."""
    data = read_yaml(path)
    for key, want in (("schedule", SCHEDULE_VERSION), ("workload", workload.meta.name),
                      ("batch", workload.meta.batch_size)):
        if data.get(key) != want:
            raise InputError(path, key, f"expected {want!r} (this schedule is for another "
                                        f"{'format version' if key == 'schedule' else key}), got {data.get(key)!r}")
    entries = data.get("gemms")
    default = build_gemms(workload, arch)
    order = training_order(default)
    names = gemm_names(default, workload)
    if not isinstance(entries, list) or len(entries) != len(order):
        raise InputError(path, "gemms", f"expected a list of {len(order)} GEMM entries (one per GEMM of "
                                        f"{workload.meta.name} in training order), got "
                                        f"{len(entries) if isinstance(entries, list) else type(entries).__name__}")
    index = {(workload.layers[default.layer[i]].name, str(default.phase[i])): i for i in range(len(default))}
    mapping, executes = {}, {}
    for position, (entry, row) in enumerate(zip(entries, order)):
        where = f"gemms[{position}]"
        entry = _entry(path, where, entry)
        key = (entry["layer"], entry["phase"])
        if key not in index or index[key] != row:
            raise InputError(path, where, f"expected {names[row]} here (the training order), got "
                                          f"layer {entry['layer']} {entry['phase']}")
        mapping[row] = _mapping(path, where, entry, arch, names[row])
        executes[(int(default.layer[row]), str(default.phase[row]))] = _executed(
            path, where, entry, workload.layers[default.layer[row]], str(default.phase[row]), arch, names[row])
    g = build_gemms(workload, arch, executes)
    rows = np.arange(len(g))
    g = g.mapped(*(np.array([mapping[r][j] for r in rows]) for j in range(4)))
    fits = tile_fits(g, arch)
    if not fits.all():
        bad = int(np.argmin(fits))
        position = int(np.flatnonzero(order == bad)[0])
        raise capacity_error(g.take(np.array([bad])), arch, names[bad], f"{path}: gemms[{position}]")
    schedule = _with_jobs(Schedule(g, order, None, str(path)), workload, arch)
    _check_jobs(path, data.get("vector_jobs"), schedule, workload, arch)
    return schedule


_KEYS = ("layer", "phase", "dataflow", "chunk", "loop_order", "interleave", "executes")


def _entry(path, where, entry) -> dict:
    if not isinstance(entry, dict) or set(entry) != set(_KEYS):
        got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise InputError(path, where, f"expected the keys {', '.join(_KEYS)}, got {got}")
    return entry


def _mapping(path, where, entry, arch: Arch, name: str) -> tuple:
    flow, chunk, order, interleave = entry["dataflow"], entry["chunk"], entry["loop_order"], entry["interleave"]
    if flow not in arch.mapping_dataflows:
        raise InputError(path, f"{where}.dataflow", f"{name}: expected one of {arch.name}'s dataflows "
                                                    f"({', '.join(arch.mapping_dataflows)}), got {flow!r}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= 1 << 40:
        raise InputError(path, f"{where}.chunk", f"{name}: expected an integer >= 1 ({FLOWS[flow].chunk_meaning}), "
                                                 f"got {chunk!r}")
    if order not in LOOP_ORDERS.values():
        raise InputError(path, f"{where}.loop_order", f"{name}: expected rows_of_a or columns_of_b, got {order!r}")
    if not isinstance(interleave, bool) or (interleave and not arch.dataflow_options.interleave):
        raise InputError(path, f"{where}.interleave", f"{name}: expected true or false (true only with "
                                                      f"{arch.name}'s dataflow_options.interleave on), got {interleave!r}")
    return flow, chunk, order == LOOP_ORDERS[True], interleave


def _executed(path, where, entry, layer, phase: str, arch: Arch, name: str) -> NMPattern:
    text = entry["executes"]
    try:
        executed = NMPattern.parse(str(text))
    except ValueError as exc:
        raise InputError(path, f"{where}.executes", f"{name}: {exc}") from None
    own = {"FF": layer.fwd_nm, "BP": layer.bwd_nm}.get(phase, NMPattern(1, 1))
    if phase == "WU" or not layer.has_weights:
        own = NMPattern(1, 1)
    if executed not in arch.sparsity.patterns or not executed.satisfied_by(own):
        fits = ", ".join(str(p) for p in arch.sparsity.patterns if p.satisfied_by(own))
        raise InputError(path, f"{where}.executes", f"{name}: expected a pattern {arch.name} executes that holds "
                                                    f"the operand's own {own} ({fits}), got {text!r}")
    return executed
