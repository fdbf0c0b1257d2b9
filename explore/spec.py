"""The sweep spec (``sweeps/*.yaml``): a base arch, parameters to vary, workloads, sampling, metrics.

Parameters are dotted paths into the arch file (``array.rows``, ``dram.channels``,
``dataflow_options.interleave``; a buffer by name: ``buffers.input_buffer.size_kib``) or into the
workload: ``workload.nm`` (re-prune a model trace's layers at this N:M with its method),
``workload.batch`` and ``workload.mode`` (training or inference). ``fixed`` sets paths for every point. Paths are checked against the base arch
when the spec loads; a value the arch schema rejects fails that point only, with its error
recorded. ``base_arch`` and ``workloads`` are paths relative to the spec's folder, or the names of
bundled presets and traces (``sat``, ``resnet50_2of8``). A sweep has at most :data:`MAX_POINTS`
points: a larger grid is refused before anything runs (sample it with ``method: random``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any, Literal, Optional

from ..arch.schema import NMPattern
from ..core.bundled import resolve
from ..core.errors import InputError
from ..core.typed_yaml import build, read_yaml
from ..sim.columns import total_names
from ..workloads.trace import MAX_BATCH
from .power import POWER_METRICS

WORKLOAD_PARAMETERS = ("workload.nm", "workload.batch", "workload.mode")
AREA_METRICS = ("lut", "ff", "dsp", "bram", "io")
METRICS = total_names() + ("speedup_over_dense",) + AREA_METRICS + POWER_METRICS   # every total simulate reports, and more
MAX_POINTS = 100_000    # design points per sweep (workloads x parameter combinations); the stated limit


@dataclass(frozen=True)
class Sampling:
    method: Literal["grid", "random"]
    points: Optional[int] = field(default=None, metadata={"check": (lambda v: v is None or v > 0, "a count > 0")})
    seed: int = 0


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base_arch: str
    workloads: list[str]
    parameters: dict[str, list[Any]]
    sampling: Sampling
    metrics: list[str]
    fidelity: Literal["analytic", "event"] = "analytic"
    fixed: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    folder: Path = Path(".")     # where the spec lives; its relative paths start there

    def problems(self):
        if not self.workloads:
            yield "workloads", "expected at least one workload folder"
        if not self.parameters:
            yield "parameters", "expected at least one parameter with a list of values"
        for path, values in self.parameters.items():
            if not isinstance(values, list) or not values:
                yield f"parameters.{path}", "expected a non-empty list of values"
                continue
            for i, value in enumerate(values):
                if value in values[:i] and not isinstance(value, (list, dict)):
                    yield f"parameters.{path}[{i}]", f"expected each value once, {value!r} repeats"
                yield from ((f"parameters.{path}[{i}]", e) for e in _workload_value_problems(path, value))
        for path, value in self.fixed.items():
            yield from ((f"fixed.{path}", e) for e in _workload_value_problems(path, value))
        if len(set(self.workloads)) != len(self.workloads):
            yield "workloads", "expected each workload once"
        grid = len(self.workloads) * prod(len(v) for v in self.parameters.values() if isinstance(v, list))
        if self.sampling.method == "grid" and grid > MAX_POINTS:
            yield "sampling.method", (f"a grid of {grid:,} points is beyond the limit of {MAX_POINTS:,}: sample it "
                                      "(method: random, points: N)")
        if self.sampling.points is not None and self.sampling.points * len(self.workloads) > MAX_POINTS:
            yield "sampling.points", f"expected at most {MAX_POINTS // len(self.workloads):,} points per workload"
        for i, metric in enumerate(self.metrics):
            if metric not in METRICS:
                yield f"metrics[{i}]", f"expected one of {', '.join(METRICS)}; got {metric!r}"
        if self.sampling.method == "random" and self.sampling.points is None:
            yield "sampling.points", "expected a number of points for random sampling"

    def arch_path(self) -> Path:
        return _locate("arch", self.folder, self.base_arch)

    def workload_paths(self) -> list[Path]:
        return [_locate("workload", self.folder, w) for w in self.workloads]


def _locate(kind: str, folder: Path, text: str) -> Path:
    """A path relative to the spec's folder when it exists there, else a bundled preset or trace."""
    path = folder / text
    return path.resolve() if path.exists() else resolve(kind, text).resolve()


def _workload_value_problems(path: str, value: Any):
    """What is wrong with a value of a workload parameter (arch values are checked per point)."""
    if path == "workload.batch" and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH):
        yield f"expected a batch size, an integer from 1 to {MAX_BATCH:,}; got {value!r}"
    elif path == "workload.mode" and value not in ("training", "inference"):
        yield f"expected training or inference, got {value!r}"
    elif path == "workload.nm":
        try:
            NMPattern.parse(value if isinstance(value, str) else "")
        except ValueError as exc:
            yield f"expected an N:M pattern such as 2:8, or dense ({exc}); got {value!r}"


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = read_yaml(path)
    if "folder" in data:
        raise InputError(path, "folder", "unknown key")
    spec = build(SweepSpec, data, str(path))
    spec = SweepSpec(**{**spec.__dict__, "folder": path.resolve().parent})
    try:
        arch = read_yaml(spec.arch_path())
    except InputError as exc:
        raise InputError(path, "base_arch", f"expected an arch file or a preset's name ({exc})") from None
    for where, paths in (("parameters", spec.parameters), ("fixed", spec.fixed)):
        for dotted in paths:
            if dotted not in WORKLOAD_PARAMETERS:
                try:
                    set_path(copy.deepcopy(arch), dotted, None)
                except KeyError as exc:
                    raise InputError(path, f"{where}.{dotted}", f"not a key of {spec.base_arch}: {exc.args[0]}") from None
    for i, text in enumerate(spec.workloads):
        try:
            workload = _locate("workload", spec.folder, text)
        except InputError:
            workload = spec.folder / text
        if not (workload / "layers.csv").exists():
            raise InputError(path, f"workloads[{i}]", f"expected a workload folder or a trace's name, {workload} has "
                                                      "no layers.csv")
    return spec


def set_path(data: dict, dotted: str, value: Any, copied: set | None = None) -> dict:
    """Set ``dotted`` (with buffers addressed by name) in a nested arch mapping; KeyError if absent.
    With ``copied`` (the ids of containers already copied, ``data``'s among them), every mapping and
    list on the path is first replaced by a shallow copy, so the containers ``data`` shares with
    another mapping are left unchanged (:func:`with_values`)."""
    node = data
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            matches = [j for j, item in enumerate(node) if isinstance(item, dict) and item.get("name") == part]
            if not matches:
                raise KeyError(f"no entry named {part!r} in {'.'.join(parts[:i])}")
            key = matches[0]
        elif isinstance(node, dict) and part in node:
            key = part
        else:
            raise KeyError(f"no key {'.'.join(parts[:i + 1])!r}")
        if copied is not None and isinstance(node[key], (dict, list)) and id(node[key]) not in copied:
            node[key] = copy.copy(node[key])
            copied.add(id(node[key]))
        node = node[key]
    if not isinstance(node, dict) or parts[-1] not in node:
        raise KeyError(f"no key {dotted!r}")
    node[parts[-1]] = value
    return data


def with_values(data: dict, values: dict[str, Any]) -> dict:
    """``data`` with ``values`` (dotted paths) set, as :func:`set_path` on a deep copy would give;
    ``data`` is unchanged and shares the containers off the paths."""
    resolved = dict(data)
    copied = {id(resolved)}
    for dotted, value in values.items():
        set_path(resolved, dotted, value, copied)
    return resolved


__all__ = ["SweepSpec", "Sampling", "load_spec", "set_path", "with_values", "METRICS"]
