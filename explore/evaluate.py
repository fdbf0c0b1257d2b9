"""Evaluate design points: build the arch and the workload of each, simulate, keep the metrics.

Runs in worker processes (local or Dask); each process keeps the base arch and the workloads it
has loaded, builds a point's arch from the base arch by what the point changes (:mod:`.variants`),
and reuses the built arch and workload of points that share them exactly. A point
that fails (an arch value the schema rejects, a tile that cannot fit, a clock above the PE's fmax,
a design larger than its FPGA) comes back as a row with its error; it does not stop the sweep.
"""
from __future__ import annotations

import time
from dataclasses import replace

from ..arch.schema import Arch, NMPattern
from ..core.reuse import kept, reusing
from ..sim.columns import as_integers
from ..sim.simulate import simulate, speedup_over_dense
from ..workloads.models import sparsify
from ..workloads.trace import Sparsity, Workload, load_workload
from .fabric import clock_problem, design_area, fit_problem
from .points import Point
from .power import POWER_METRICS, power_totals
from .spec import AREA_METRICS, WORKLOAD_PARAMETERS, SweepSpec
from .variants import ArchVariants

_loaded: dict = {}
_archs: dict = {}        # a point's Arch by the resolved arch's digest (Point.arch_sha256)
_workloads: dict = {}    # a point's workload by its trace folder and workload values
ARCHS_KEPT, WORKLOADS_KEPT = 256, 16   # entries kept per process (the oldest goes first)


def _cached(kind: str, path, load):
    key = (kind, str(path))
    if key not in _loaded:
        _loaded[key] = load(path)
    return _loaded[key]


def _variants(spec: SweepSpec) -> ArchVariants:
    """The variants of the spec's base arch (its file located once per process)."""
    return _cached("arch", (spec.folder, spec.base_arch), lambda _: ArchVariants(spec.arch_path()))


def point_inputs(spec: SweepSpec, point: Point) -> tuple[Arch, Workload]:
    """The point's arch and workload; points of equal resolved arch (equal digest of its contents)
    share one built Arch, and points of equal trace and workload values one workload."""
    settings = {**spec.fixed, **dict(point.params)}
    arch = (kept(_archs, ARCHS_KEPT, point.arch_sha256, lambda: _arch(spec, point, settings)) if point.arch_sha256
            else _arch(spec, point, settings))
    values = tuple((k, repr(settings[k])) for k in WORKLOAD_PARAMETERS if k in settings)
    workload = kept(_workloads, WORKLOADS_KEPT, (str(point.workload), values), lambda: _workload(point.workload, settings))
    return arch, workload


def _arch(spec: SweepSpec, point: Point, settings: dict) -> Arch:
    values = {k: v for k, v in settings.items() if k not in WORKLOAD_PARAMETERS}
    return _variants(spec).arch(values, f"(point {point.key})")


def _workload(folder, settings: dict) -> Workload:
    workload = _cached("workload", folder, load_workload)
    if "workload.nm" in settings:
        pattern = NMPattern.parse(str(settings["workload.nm"]))
        method = workload.meta.sparsity.method if workload.meta.sparsity.method in ("srste", "bdwp") else "bdwp"
        method = "dense" if pattern.dense else method
        workload = replace(workload, layers=sparsify(workload.layers, method, pattern),
                           meta=replace(workload.meta, sparsity=Sparsity(method, str(pattern))))
    if "workload.mode" in settings:
        mode = str(settings["workload.mode"])
        if mode not in ("training", "inference"):
            raise ValueError(f"workload.mode: expected training or inference, got {mode!r}")
        workload = replace(workload, meta=replace(workload.meta, mode=mode))
    if "workload.batch" in settings:
        workload = workload.with_batch(int(settings["workload.batch"]))
    return workload


def preload(spec: SweepSpec, points: list[Point]) -> None:
    """Load the base arch and the points' traces into this process's caches before the worker
    processes start: a worker forked after it has them (the masks are not read and checked again
    per worker); a spawned one loads each once. A load that fails is left to the points, whose
    rows carry the error."""
    loads = [lambda: _variants(spec)]
    loads += [lambda folder=folder: _cached("workload", folder, load_workload)
              for folder in dict.fromkeys(p.workload for p in points)]
    for load in loads:
        try:
            load()
        except Exception:  # noqa: BLE001, S112 - each point's row reports it
            continue


def evaluate(spec: SweepSpec, point: Point) -> dict:
    start = time.perf_counter()
    row = {"key": point.key, "workload": point.workload.name, **dict(point.params), "status": "ok", "error": ""}
    try:
        arch, workload = point_inputs(spec, point)
        problem = clock_problem(arch) or fit_problem(arch)      # the area only where the part is an FPGA
        if problem:
            raise ValueError(problem)
        result = simulate(arch, workload, spec.fidelity)
        metrics = {m: result.totals[m] for m in spec.metrics if m in result.totals}
        if "speedup_over_dense" in spec.metrics:
            metrics["speedup_over_dense"] = speedup_over_dense(arch, workload, result)["speedup"]
        if any(m in AREA_METRICS for m in spec.metrics):
            resources = design_area(arch)
            metrics.update({m: resources[m] for m in spec.metrics if m in AREA_METRICS})
        if any(m in POWER_METRICS for m in spec.metrics):
            power = power_totals(arch, result.totals)
            metrics.update({m: power[m] for m in spec.metrics if m in POWER_METRICS})
        row.update(as_integers(metrics))
    except Exception as exc:  # noqa: BLE001 - any failure is this point's result, not the sweep's
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def evaluate_many(spec: SweepSpec, points: list[Point]) -> list[dict]:
    """The points' rows; points that share a stage's inputs share its result (:mod:`~sparseloom.core.reuse`)."""
    with reusing():
        return [evaluate(spec, p) for p in points]
