"""The schedule both fidelities execute: a mapping per GEMM and the order the GEMMs run in.

With offline scheduling (SAT) the mapping of every layer and phase comes from the search over
the cost model; without it, from the fixed default rule (FF/BP weight-stationary, WU output-
stationary, chunks as long as the buffers allow). Training order: FF for layers 0..L-1, then BP
and WU layer by layer from L-1 down to 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..core.errors import CapacityError
from ..workloads.trace import Workload
from .gemms import GemmTable, build_gemms, gemm_names
from .search import Choice, Cost, search
from .tiling import capacity_error, tile_fits


@dataclass(frozen=True)
class Schedule:
    gemms: GemmTable          # the chosen mapping of every GEMM
    order: np.ndarray         # rows of ``gemms`` in execution order
    choice: Choice | None     # the search behind it (None without offline scheduling)


def make_schedule(workload: Workload, arch: Arch, cost: Cost) -> Schedule:
    default = build_gemms(workload, arch)
    order = training_order(default)
    if not arch.dataflow_options.offline_schedule:
        fits = tile_fits(default, arch)
        if not fits.all():
            first = int(np.argmin(fits))
            raise capacity_error(default.take(np.array([first])), arch, gemm_names(default, workload)[first])
        return Schedule(default, order, None)
    choice = search(default, arch, cost)
    if (choice.best < 0).any():
        missing = int(np.flatnonzero(choice.best < 0)[0])
        raise CapacityError(f"{gemm_names(default, workload)[missing]}: no mapping fits {arch.name}'s buffers")
    return Schedule(choice.candidates.take(choice.best), order, choice)


def training_order(g: GemmTable) -> np.ndarray:
    """GEMM rows in execution order: FF forward, then BP and WU layer by layer backward."""
    forward = sorted(np.flatnonzero(g.phase == "FF"), key=lambda i: g.layer[i])
    backward = sorted(np.flatnonzero(g.phase != "FF"), key=lambda i: (-g.layer[i], g.phase[i] != "BP"))
    return np.array(forward + backward, np.int64)
