"""Run GEMM tiles through the generated arrays in amaranth.sim: results and cycle counts.

Each function drives one tile the way a controller does (weights, then one row or step per
cycle) and returns the outputs it collected and the cycle at which the last one appeared, to be
compared with the reference kernels and with ``sim.timing.array_cycles``.
"""
from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from .arrays import OutputStationaryArray, WeightStationaryArray
from .config import RtlConfig


def lane_vectors(a_row: np.ndarray, slots: int, n: int, m: int, cfg: RtlConfig) -> list[list[int]]:
    """Per array row (one kept-weight slot each), the M activations of its slot's group."""
    out = []
    for slot in range(cfg.rows):
        lanes = [0] * cfg.lanes
        if slot < slots:
            group = a_row[(slot // n) * m:(slot // n) * m + m]
            lanes[:len(group)] = [int(v) for v in group]
        out.append(lanes)
    return out


def _pad(values, width: int) -> list[int]:
    return [int(v) for v in values] + [0] * (width - len(values))


def run_weight_stationary(cfg: RtlConfig, a: np.ndarray, values: np.ndarray, index: np.ndarray,
                          n: int, m: int) -> tuple[np.ndarray, int]:
    """C[rows x nt] = A @ W for one weight tile: ``values``/``index`` [kt x nt] (kt <= R, nt <= C)."""
    rows_a, (kt, nt) = a.shape[0], values.shape
    assert kt <= cfg.rows and nt <= cfg.cols
    dut = WeightStationaryArray(cfg)
    out = np.zeros((rows_a, nt), np.int64)
    seen = [0] * cfg.cols
    last = {}

    async def bench(ctx):
        cycle = 0
        for j in range(kt):                                  # the lowest row goes in first
            ctx.set(dut.load, 1)
            ctx.set(dut.w_top, _pad(values[kt - 1 - j], cfg.cols))
            ctx.set(dut.idx_top, _pad(index[kt - 1 - j], cfg.cols))
            await ctx.tick()
            cycle += 1
        ctx.set(dut.load, 0)
        while min(seen[:nt]) < rows_a:
            streaming = cycle - kt < rows_a
            ctx.set(dut.act_valid, int(streaming))
            ctx.set(dut.act, lane_vectors(a[cycle - kt], kt, n, m, cfg) if streaming
                    else [[0] * cfg.lanes] * cfg.rows)
            await ctx.tick()
            cycle += 1
            _collect(ctx.get(dut.result_valid), ctx.get(dut.result), out, seen, last, cycle)
            if cycle > kt + rows_a + 4 * (cfg.rows + cfg.cols):
                raise RuntimeError("weight-stationary tile did not finish")

    _run(dut, bench)
    return out, max(last.values())


def _collect(valid: int, result, out: np.ndarray, seen: list[int], last: dict, cycle: int) -> None:
    """Store the results of the columns flagged valid this cycle, in arrival order per column."""
    for c in range(out.shape[1]):
        if valid >> c & 1:
            out[seen[c], c] = result[c]
            seen[c] += 1
            last[c] = cycle


def run_output_stationary(cfg: RtlConfig, a: np.ndarray, values: np.ndarray, index: np.ndarray,
                          n: int, m: int, drain_at: int | None = None) -> tuple[np.ndarray, int]:
    """C[mt x nt] = A @ W for one output tile (mt <= R, nt <= C), reduction streamed in k steps.

    The controller drains from cycle ``drain_at`` (default: when the last PE has its last
    product, k + (mt - 1) + (nt - 1)).
    """
    mt, (k, nt) = a.shape[0], values.shape
    assert mt <= cfg.rows and nt <= cfg.cols
    drain_at = k + (mt - 1) + (nt - 1) if drain_at is None else drain_at
    dut = OutputStationaryArray(cfg)
    rows_out: list[list[int]] = []
    done = {}

    async def bench(ctx):
        cycle = 0
        while len(rows_out) < cfg.rows:
            step = cycle < k
            ctx.set(dut.first, int(cycle == 0))
            lanes = [[0] * cfg.lanes] * cfg.rows
            if step:
                group = (cycle // n) * m
                lanes = [_pad(a[r, group:group + m], cfg.lanes) if r < mt else [0] * cfg.lanes
                         for r in range(cfg.rows)]
            ctx.set(dut.act, lanes)
            ctx.set(dut.w_top, _pad(values[cycle], cfg.cols) if step else [0] * cfg.cols)
            ctx.set(dut.idx_top, _pad(index[cycle], cfg.cols) if step else [0] * cfg.cols)
            ctx.set(dut.drain, int(drain_at <= cycle < drain_at + cfg.rows))
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.result_valid):
                rows_out.append(list(ctx.get(dut.result))[:nt])
                done["cycle"] = cycle
            if cycle > drain_at + 2 * cfg.rows + 4:
                raise RuntimeError("output-stationary tile did not finish")

    _run(dut, bench)
    # the bottom row leaves first: row, ..., 0
    out = np.array(rows_out[::-1][:mt], np.int64).reshape(mt, nt)
    return out, done["cycle"]


def _run(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def run_pruning(lane, groups: np.ndarray) -> tuple[list[tuple[int, list[int], list[int]]], int]:
    """Stream ``groups`` ([G x M] elements) through a pruning lane, one element per cycle.

    Returns per group (mask, values, positions) and the cycle its result appeared.
    """
    results, cycles = [], []

    async def bench(ctx):
        cycle = 0
        flat = [int(v) for v in groups.reshape(-1)]
        while len(results) < len(groups):
            ctx.set(lane.valid, int(cycle < len(flat)))
            ctx.set(lane.element, flat[cycle] if cycle < len(flat) else 0)
            await ctx.tick()
            cycle += 1
            if ctx.get(lane.out_valid):
                results.append((ctx.get(lane.mask), list(ctx.get(lane.values)), list(ctx.get(lane.positions))))
                cycles.append(cycle)

    _run(lane, bench)
    return results, cycles


def run_engine(cfg: RtlConfig, a: np.ndarray, values: np.ndarray, index: np.ndarray,
               n: int, m: int) -> tuple[np.ndarray, int]:
    """The tile of :func:`run_weight_stationary` through the stream engine, streams always valid;
    cycles count from the first weight transfer."""
    from .top import WeightStationaryEngine

    rows_a, (kt, nt) = a.shape[0], values.shape
    dut = WeightStationaryEngine(cfg, max_rows=max(rows_a, 1))
    out = np.zeros((rows_a, nt), np.int64)
    seen = [0] * cfg.cols
    last = {}

    async def bench(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.kt, kt)
        ctx.set(dut.m, rows_a)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.w_valid, 1)
        ctx.set(dut.a_valid, 1)
        cycle, w_sent, a_sent = 0, 0, 0
        while min(seen[:nt]) < rows_a:
            if w_sent < kt:
                ctx.set(dut.w_values, _pad(values[kt - 1 - w_sent], cfg.cols))
                ctx.set(dut.w_index, _pad(index[kt - 1 - w_sent], cfg.cols))
            if a_sent < rows_a:
                ctx.set(dut.a_lanes, lane_vectors(a[a_sent], kt, n, m, cfg))
            w_taken, a_taken = ctx.get(dut.w_ready), ctx.get(dut.a_ready)
            await ctx.tick()
            cycle += 1
            w_sent += w_taken
            a_sent += a_taken
            _collect(ctx.get(dut.results_valid), ctx.get(dut.results), out, seen, last, cycle)
            if cycle > kt + rows_a + 4 * (cfg.rows + cfg.cols):
                raise RuntimeError("engine tile did not finish")

    _run(dut, bench)
    return out, max(last.values())
