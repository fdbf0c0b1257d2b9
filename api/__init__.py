"""sparseloom's Python API, for notebooks and scripts.

    import sparseloom
    arch = sparseloom.load_arch("sat")                      # a bundled preset, or a path
    workload = sparseloom.load_workload("resnet50_2of8")    # a bundled trace, or a trace folder
    result = sparseloom.simulate(arch, workload)            # a Result: .totals, .gemms, .side, .notes
    sparseloom.speedup_over_dense(arch, workload, result)   # speedup and its two ideals
    sparseloom.sweep("sat_array", "results/sat_array.csv")  # a bundled spec, or a path

Names are the ones ``simulate --list`` prints. The heavy modules load on first use, so
``import sparseloom`` is cheap.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .core.version import VERSION as __version__

if TYPE_CHECKING:
    from .arch.schema import Arch
    from .explore.spec import SweepSpec
    from .sim.results import Result
    from .workloads.trace import Workload

_TYPES = {"Arch": "arch.schema", "Workload": "workloads.trace", "Result": "sim.results", "SweepSpec": "explore.spec"}


def load_arch(name_or_path: str | Path) -> "Arch":
    """An architecture: a bundled preset by name (``"sat"``) or an arch YAML file, validated."""
    from .arch.schema import load_arch as load
    from .core.bundled import resolve

    return load(resolve("arch", name_or_path))


def load_workload(name_or_path: str | Path, batch: int | None = None) -> "Workload":
    """A workload trace: a bundled trace by name (``"resnet50_2of8"``) or a trace folder, validated;
    ``batch`` overrides its batch size."""
    from .core.bundled import resolve
    from .core.errors import InputError
    from .workloads.trace import load_workload as load

    workload = load(resolve("workload", name_or_path))
    if batch is None:
        return workload
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise InputError("batch", "", f"expected a batch size >= 1, got {batch!r}")
    return workload.with_batch(batch)


def simulate(arch: "Arch | str | Path", workload: "Workload | str | Path", fidelity: str = "analytic", *,
             timeline: str | Path | None = None, interleave: bool | None = None, pregenerate: bool | None = None,
             offline_schedule: bool | None = None) -> "Result":
    """Simulate one iteration of ``workload`` on ``arch`` (objects, names or paths) at ``fidelity``
    (``"analytic"`` or ``"event"``). The switches override the arch's ``dataflow_options``;
    ``timeline`` (event fidelity) writes a Chrome trace JSON and its PNG."""
    from .sim.ablation import with_options
    from .sim.simulate import simulate as run

    arch = load_arch(arch) if isinstance(arch, (str, Path)) else arch
    workload = load_workload(workload) if isinstance(workload, (str, Path)) else workload
    switches = {"interleave": interleave, "pregenerate": pregenerate, "offline_schedule": offline_schedule}
    arch = with_options(arch, **{k: v for k, v in switches.items() if v is not None})
    return run(arch, workload, fidelity, Path(timeline) if timeline else None)


def speedup_over_dense(arch: "Arch", workload: "Workload", result: "Result | None" = None) -> dict:
    """The speedup over the dense run of the same model on ``arch``, with the GEMM and
    whole-iteration ideals (``above_ideal`` flags a model error)."""
    from .sim.simulate import speedup_over_dense as bounds

    return bounds(arch, workload, result)


def load_spec(name_or_path: str | Path) -> "SweepSpec":
    """A sweep spec: a bundled one by name (``"sat_array"``) or a spec YAML file, validated."""
    from .core.bundled import resolve
    from .explore.spec import load_spec as load

    return load(resolve("sweep", name_or_path))


def sweep(spec: "SweepSpec | str | Path", output: str | Path, workers: int | None = None,
          scheduler: str | None = None) -> dict:
    """Run a sweep into the results CSV ``output`` (resumed when it exists) on local processes or a
    Dask scheduler; returns the counts of points, run, skipped and failed."""
    from .explore.runner import run_sweep

    spec = load_spec(spec) if isinstance(spec, (str, Path)) else spec
    return run_sweep(spec, Path(output), workers, scheduler, progress=False)


def __getattr__(name: str):
    if name in _TYPES:
        import importlib

        return getattr(importlib.import_module(f".{_TYPES[name]}", __name__), name)
    raise AttributeError(f"module 'sparseloom' has no attribute {name!r}")


__all__ = ["__version__", "load_arch", "load_workload", "simulate", "speedup_over_dense", "load_spec", "sweep",
           "Arch", "Workload", "Result", "SweepSpec"]
