"""The stated size limit of one simulated iteration, so no total wraps int64 or turns negative.

Per-field bounds (:mod:`sparseloom.arch.schema`, ``layers.csv``'s ``INT_LIMITS``) keep every
single number physical; their products can still exceed int64. The iteration's MACs are
counted in Python integers before anything is costed and refused above :data:`MAX_MACS`
(2^50, about 10^15: a LLaMA-7B prefill of 4,096 tokens x 32 sequences is below it); with at
most 1,024 cycles of accumulator latency per MAC the cycles then stay below 2^60. After
costing, every integer column and total is checked to be non-negative and finite anyway.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import InputError

MAX_MACS = 1 << 50
_COUNTS = ("cycles", "busy", "macs", "useful_macs", "dense_macs", "count")


def check_workload(workload) -> None:
    """Refuse an iteration whose MACs or non-GEMM operator elements (all phases, exact) exceed
    :data:`MAX_MACS`."""
    phases = 3 if workload.meta.mode == "training" else 1
    macs = sum(layer.macs_per_sample * layer.repeat for layer in workload.layers) * workload.meta.batch_size * phases
    if macs > MAX_MACS:
        where = workload.path / "layers.csv" if workload.path else workload.name
        raise InputError(where, "", f"one iteration at batch {workload.meta.batch_size:,} is {macs:.3g} MACs; "
                                    f"the model's stated limit is 2^50 ({MAX_MACS:.3g}): use a smaller batch or layer")
    elements = sum(op.elements * op.repeat for op in workload.ops) * workload.meta.batch_size * phases
    if elements > MAX_MACS:
        where = workload.path / "ops.csv" if workload.path else workload.name
        raise InputError(where, "", f"one iteration at batch {workload.meta.batch_size:,} has {elements:.3g} operator "
                                    f"elements; the model's stated limit is 2^50 ({MAX_MACS:.3g})")


def check_results(workload, tables: list, totals: dict) -> None:
    """No count is negative or non-finite (a wrapped int64 or an overflowed float would be) in
    ``tables`` (:class:`~.records.Table`) or ``totals``."""
    for table in tables:
        names = [c for c in table.names if c in _COUNTS or c.startswith(("stall_", "energy_")) or c.endswith("_bytes")]
        if names and len(table):
            values = np.array([table[c] for c in names], dtype=float)
            fine = (np.isfinite(values) & (values >= 0)).all(axis=1)
            if not fine.all():
                _overflow(workload, names[int(np.argmin(fine))])
    for name, value in totals.items():
        if isinstance(value, (int, float)) and not (math.isfinite(value) and value >= 0):
            _overflow(workload, name)


def _overflow(workload, name: str):
    raise InputError(workload.path or workload.name, "", f"{name}: a total left the model's numeric range "
                                                         f"(negative or not finite); the design or batch is too large to model")
