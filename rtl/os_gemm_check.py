"""Run whole GEMMs through :class:`~.os_gemm_engine.OutputStationaryGemmEngine` in amaranth.sim.

The driver plays the buffers: one step (A lanes and a compressed B row) per issue, in the engine's
order (groups of output tiles; per group, per executed k-row, per tile of the group), and collects
every result; the cycle of the last result is counted from the first issue cycle, as
``sim.timing.array_cycles`` counts.
"""
from __future__ import annotations

import numpy as np

from .config import RtlConfig
from .gemm_check import GemmRun, _pad, drive, run_of
from .os_gemm_engine import OutputStationaryGemmEngine


def output_tiles(cfg: RtlConfig, m: int, n: int) -> list[tuple[int, int]]:
    """The engine's tile walk: (m0, n0), rows of A outermost."""
    return [(m0, n0) for m0 in range(0, m, cfg.rows) for n0 in range(0, n, cfg.cols)]


def run_os_gemm(cfg: RtlConfig, a: np.ndarray, values: np.ndarray, index: np.ndarray, n_keep: int, m_group: int,
                interleave: bool = True, group: int | None = None, *, max_group: int | None = None,
                bubbles: float = 0.0, seed: int = 0, gaps=None, ready=None,
                dut: OutputStationaryGemmEngine | None = None, driver=drive) -> GemmRun:
    """C = A @ W for W in N:M-compressed form (``values``/``index`` [k_exec x n]); ``group``
    output tiles per interleave group (default L, clamped to the tiles there are). ``gaps``: per
    cycle, the streams (a, w) that offer no new item; ``ready``: per cycle, whether the result
    stream is ready; ``driver``: :func:`.gemm_check.drive` (amaranth.sim)
    or a :class:`.verilog_check.VerilogSim`."""
    M, (K, N) = a.shape[0], values.shape
    if m_group > cfg.lanes:
        raise ValueError(f"{n_keep}:{m_group} needs {m_group} lanes; the array has {cfg.lanes}")
    R, C, L = cfg.rows, cfg.cols, cfg.acc_latency
    tiles = output_tiles(cfg, M, N)
    g = min(group or L, len(tiles)) if interleave else 1
    a_items, w_items = [], []
    for first in range(0, len(tiles), g):
        members = tiles[first:first + g]
        for s in range(K):
            lo = (s // n_keep) * m_group
            for m0, n0 in members:
                lanes = []
                for r in range(R):
                    vec = [0] * cfg.lanes
                    if m0 + r < M:
                        vec[:m_group] = [int(v) for v in a[m0 + r, lo:lo + m_group]]
                    lanes.append(vec)
                a_items.append({"lanes": lanes})
                w_items.append({"values": _pad(values[s, n0:n0 + C], C), "index": _pad(index[s, n0:n0 + C], C)})
    if dut is None:
        dut = OutputStationaryGemmEngine(cfg, max_m=M, max_n=N, max_k=K, max_group=max_group or max(g, L))
    out = np.full((M, N), np.iinfo(np.int64).min, np.int64)
    seen = np.zeros((M, N), np.int64)

    def take(r):
        out[r.row, r.col] = r.value
        seen[r.row, r.col] += 1

    limit = len(tiles) * (K * max(g, L) + g * R + 2 * (R + C + L + cfg.mac_stages)) + 100
    res = driver(dut, dict(m=M, n=N, k=K, group=g, interleave=int(interleave)), {"a": a_items, "w": w_items},
                 C, take, limit, bubbles, seed, gaps=gaps, ready=ready)
    if res["done"] >= 0 and (seen != 1).any():       # (a recording driver runs the GEMM later)
        raise AssertionError(f"outputs shown {seen.min()} to {seen.max()} times (expected once each)")
    return run_of(out, res)
