"""One entry point for both fidelities, and the comparison with dense training."""
from __future__ import annotations

from pathlib import Path

from ..arch.schema import Arch
from ..dataflow.schedule import Schedule
from ..workloads.trace import Workload
from .analytic import simulate_analytic
from .results import Result

FIDELITIES = ("analytic", "event")


def simulate(arch: Arch, workload: Workload, fidelity: str = "analytic", timeline: Path | None = None,
             schedule: Schedule | None = None) -> Result:
    """Simulate one iteration of ``workload`` on ``arch``; ``timeline`` (event only) writes traces;
    ``schedule`` (e.g. from :func:`~sparseloom.dataflow.schedule.load_schedule`) replaces the
    dataflow compiler's."""
    if fidelity == "analytic":
        return simulate_analytic(arch, workload, schedule)
    if fidelity == "event":
        from .event import simulate_event  # the event engine is imported only when needed

        return simulate_event(arch, workload, timeline, schedule)
    raise ValueError(f"fidelity must be one of {FIDELITIES}, got {fidelity!r}")


def speedup_over_dense(arch: Arch, workload: Workload, sparse: Result | None = None,
                       dense: Result | None = None) -> dict:
    """Speedup of the workload over dense training/inference on the same arch, with its ideal bounds.

    ``ideal_speedup`` (GEMMs only) is the dense MACs over the workload's useful MACs: what a perfect
    N:M array reaches on the GEMMs. ``iteration_ideal_speedup`` is Amdahl's bound over the whole
    iteration: the dense run's GEMM time shrunk by that ideal, its non-GEMM time (vector operators,
    exposed optimizer and pruning, control), which sparsity does not shrink, kept.
    ``above_ideal`` flags a measured speedup above the iteration's ideal: a model error to report.
    ``dense`` is the dense run when the caller has it already; else the dense run's totals are
    kept per (arch, dense workload, fidelity), so design points that differ only in the workload's
    sparsity share one.
    """
    fidelity = sparse.fidelity if sparse else "analytic"
    sparse = sparse or simulate(arch, workload, fidelity)
    d = dense.totals if dense else _dense_totals(arch, workload, fidelity)
    gemm_ideal = sparse.totals["dense_macs"] / sparse.totals["useful_macs"]
    iteration_ideal = d["cycles"] / (d["gemm_cycles"] / gemm_ideal + d["non_gemm_cycles"])
    speedup = d["cycles"] / sparse.totals["cycles"]
    return {"dense_cycles": d["cycles"], "speedup": speedup, "ideal_speedup": gemm_ideal,
            "iteration_ideal_speedup": iteration_ideal, "above_ideal": bool(speedup > iteration_ideal * (1 + 1e-9))}


_DENSE_RUNS: dict[tuple, dict] = {}
_DENSE_RUNS_KEPT = 256
_DENSE_OF: dict[int, tuple[Workload, tuple, Workload, str]] = {}


def _dense_totals(arch: Arch, workload: Workload, fidelity: str) -> dict:
    """The totals of ``workload`` trained densely on ``arch``, simulated once per process for equal
    arch and dense workload (compared by their full contents)."""
    dense, text = _densified(workload)
    key = (fidelity, repr(arch), text)
    if key not in _DENSE_RUNS:
        if len(_DENSE_RUNS) >= _DENSE_RUNS_KEPT:
            del _DENSE_RUNS[next(iter(_DENSE_RUNS))]   # the oldest
        _DENSE_RUNS[key] = simulate(arch, dense, fidelity).totals
    return dict(_DENSE_RUNS[key])


def _densified(workload: Workload) -> tuple[Workload, str]:
    """``workload.densified()`` and its repr (the dense run's key), made once per workload object
    (kept by identity, as a sweep reuses one object for all its points; the layers and operators
    are compared by identity too, since a frozen workload's lists can still be changed in place)."""
    parts = (*workload.layers, *workload.ops)
    kept = _DENSE_OF.get(id(workload))
    if (kept is None or kept[0] is not workload or len(kept[1]) != len(parts)
            or any(a is not b for a, b in zip(kept[1], parts))):
        if len(_DENSE_OF) >= _DENSE_RUNS_KEPT:
            del _DENSE_OF[next(iter(_DENSE_OF))]
        dense = workload.densified()
        kept = _DENSE_OF[id(workload)] = (workload, parts, dense, repr(dense))
    return kept[2], kept[3]
