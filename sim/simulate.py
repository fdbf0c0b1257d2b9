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
        from .event import simulate_event  # simpy is imported only when needed

        return simulate_event(arch, workload, timeline, schedule)
    raise ValueError(f"fidelity must be one of {FIDELITIES}, got {fidelity!r}")


def speedup_over_dense(arch: Arch, workload: Workload, sparse: Result | None = None) -> dict:
    """Speedup of the workload over dense training/inference on the same arch, with its ideal bound.

    The ideal is the dense MACs over the workload's useful MACs: what a perfect N:M array reaches.
    """
    fidelity = sparse.fidelity if sparse else "analytic"
    sparse = sparse or simulate(arch, workload, fidelity)
    dense = simulate(arch, workload.densified(), fidelity)
    return {"dense_cycles": dense.totals["cycles"], "speedup": dense.totals["cycles"] / sparse.totals["cycles"],
            "ideal_speedup": sparse.totals["dense_macs"] / sparse.totals["useful_macs"]}
