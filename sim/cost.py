"""The per-GEMM cost model: array timing, traffic, the analytic roofline and energy.

One evaluation over a whole GEMM table (any mapping), shared by the analytic fidelity and the
mapping search, which ranks candidates by cycles, then DRAM bytes, then energy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch.schema import Arch
from ..dataflow.gemms import GemmTable
from .timing import ArrayTiming, array_cycles
from .traffic import Traffic, gemm_traffic


@dataclass(frozen=True)
class GemmCost:
    """Totals over each GEMM's ``count`` instances."""

    timing: ArrayTiming          # per instance
    traffic: Traffic             # per instance
    array: np.ndarray            # tile-timing cycles
    buffer_cycles: np.ndarray    # the busiest buffer's port cycles
    dram_cycles: np.ndarray      # DRAM bytes over the DRAM bandwidth
    cycles: np.ndarray           # the roofline: the largest of the three
    dram_bytes: np.ndarray
    energy_pj: np.ndarray        # MACs + buffer reads and writes + DRAM

    def ranking(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the search minimises, most important first."""
        return self.cycles, self.dram_bytes, self.energy_pj


def gemm_cost(g: GemmTable, arch: Arch) -> GemmCost:
    a, e = arch.array, arch.energy
    t = array_cycles(a.rows, a.cols, g.dataflow == "weight_stationary", g.m, g.n, g.k_eff,
                     a.accumulator_latency_cycles, arch.dataflow_options.interleave, a.weight_double_buffer, g.m_tile)
    tr = gemm_traffic(g, arch)
    cnt = g.count
    array = t.cycles * cnt
    buffer_cycles = np.max([(tr.buffer_read[b.name] + tr.buffer_write[b.name]) * cnt / b.bytes_per_cycle
                            for b in arch.buffers], axis=0)
    dram_bytes = tr.dram * cnt
    dram_cycles = dram_bytes / arch.dram_bytes_per_cycle
    cycles = np.ceil(np.maximum.reduce([array, buffer_cycles, dram_cycles])).astype(np.int64)
    energy = (g.m * g.n * g.k_eff * cnt * e.mac_pj
              + sum(tr.buffer_read.values()) * cnt * e.buffer_read_pj_per_byte
              + sum(tr.buffer_write.values()) * cnt * e.buffer_write_pj_per_byte
              + dram_bytes * e.dram_pj_per_byte)
    return GemmCost(t, tr, array, buffer_cycles, dram_cycles, cycles, dram_bytes, energy)
