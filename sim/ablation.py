"""SAT's three dataflow optimisations switched on one after another, from all off."""
from __future__ import annotations

from dataclasses import replace

from ..arch.schema import Arch
from ..workloads.trace import Workload
from .simulate import simulate

STEPS = [
    ("baseline (all off)", dict(interleave=False, pregenerate=False, offline_schedule=False)),
    ("+ interleave mapping", dict(interleave=True, pregenerate=False, offline_schedule=False)),
    ("+ pre-generation", dict(interleave=True, pregenerate=True, offline_schedule=False)),
    ("+ offline scheduling", dict(interleave=True, pregenerate=True, offline_schedule=True)),
]


def with_options(arch: Arch, **options) -> Arch:
    return replace(arch, dataflow_options=replace(arch.dataflow_options, **options))


def ablation(arch: Arch, workload: Workload, fidelity: str = "analytic") -> list[dict]:
    """One row per step: its totals, and its speedup over the baseline and over the step before."""
    rows = []
    for name, options in STEPS:
        totals = simulate(with_options(arch, **options), workload, fidelity).totals
        baseline = rows[0]["cycles"] if rows else totals["cycles"]
        previous = rows[-1]["cycles"] if rows else totals["cycles"]
        rows.append({"step": name, **options, **totals,
                     "speedup": baseline / totals["cycles"], "step_speedup": previous / totals["cycles"]})
    return rows
