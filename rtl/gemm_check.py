"""Run whole GEMMs through :class:`~.gemm_engine.WeightStationaryGemmEngine` in amaranth.sim.

The driver plays the input and weight buffers: it streams the weight rows and the rows of A in
the engine's tile order, collects every accumulator write the engine shows, and returns C, the
cycle of the last write (counted in clock edges from the first preload cycle, as
``sim.timing.array_cycles`` counts) and the cycle ``done`` was seen.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from .config import RtlConfig
from .gemm_engine import WeightStationaryGemmEngine


@dataclass(frozen=True)
class Tile:
    c0: int      # first row of A of the chunk
    s: int       # rows of A in the chunk
    j: int       # k-tile
    t: int       # column tile
    kt: int
    xt: int


def tile_order(cfg: RtlConfig, m: int, n: int, k: int, chunk: int, interleave: bool) -> list[Tile]:
    """The engine's issue order: per chunk, (k-tile, column tile) or (column tile, k-tile)."""
    R, C = cfg.rows, cfg.cols
    tk, tx = -(-k // R), -(-n // C)
    out = []
    for c0 in range(0, m, chunk):
        pairs = [(j, t) for j in range(tk) for t in range(tx)] if interleave else \
            [(j, t) for t in range(tx) for j in range(tk)]
        out += [Tile(c0, min(chunk, m - c0), j, t, min(R, k - j * R), min(C, n - t * C)) for j, t in pairs]
    return out


def _pad(values, width: int) -> list[int]:
    return [int(v) for v in values] + [0] * (width - len(values))


@dataclass
class GemmRun:
    out: np.ndarray
    last_write: int          # clock edges from the first preload cycle to the last accumulator write
    done: int                # the cycle ``done`` was seen (equals last_write)
    writes: int              # accumulator writes (k-tiles x m x n)
    cycles: int              # clock edges simulated until done
    stalls: int              # cycles the engine waited (a stream transfer missing, or a result not taken)
    log: list = field(default_factory=list)   # every result taken: (cycle, column, raw bits)
    held: int = 0            # cycles the result stream was valid and not ready


def drive(dut, start: dict, streams: dict, cols: int, take, limit: int, bubbles: float = 0.0, seed: int = 0,
          gaps=None, ready=None) -> dict:
    """Run ``dut`` through one GEMM in amaranth.sim: pulse ``start`` with the ``start`` ports, then
    offer each input stream's payloads in order (``streams[name]``: the payloads of stream
    ``dut.<name>``). A payload once offered stays valid until it is taken (the stream rules); a
    new one is not offered with probability ``bubbles`` or where ``gaps[cycle][s]`` (stream s, in
    ``streams`` order) is set. ``dut.result.ready`` is low where ``ready[cycle]`` is false (high
    past its end, and always without it); ``take(r)`` gets every column record of every result
    transferred. Returns the cycle of the last result (``last``, counted from the first cycle
    after ``start``), the cycle ``done`` was seen, the results taken (``writes``, and each as
    (cycle, column, raw bits) in ``log``), the cycles simulated, the stalled cycles and the cycles
    the result was held (valid, not ready). :class:`.verilog_check.VerilogSim` does the same in a
    Verilog simulator."""
    job = dict(start=start, streams=streams, take=take, limit=limit, bubbles=bubbles, seed=seed, gaps=gaps,
               ready=ready)
    return drive_jobs(dut, [job], cols)[0]


def new_result() -> dict:
    return {"last": -1, "done": -1, "writes": 0, "cycles": 0, "stalls": 0, "held": 0, "log": []}


def drive_jobs(dut, jobs: list[dict], cols: int) -> list[dict]:
    """:func:`drive` for several GEMMs one after another in one simulation (each job a dict of
    drive's arguments: ``start``, ``streams``, ``take``, ``limit`` and optionally ``bubbles``,
    ``seed``, ``gaps``, ``ready``), the next ``start`` in the cycle after a ``done``; cycles are
    counted per job from the first cycle after its ``start``."""
    results = []

    async def run(ctx, job, res):
        start, streams, take, limit = job["start"], job["streams"], job["take"], job["limit"]
        bubbles, gaps, ready = job.get("bubbles", 0.0), job.get("gaps"), job.get("ready")
        rng = np.random.default_rng(job.get("seed", 0))
        if bubbles:
            limit = int(limit / (1 - bubbles) ** 2) + 100
        if ready is not None:
            limit += len(ready)
        names = list(streams)
        ports = {name: getattr(dut, name) for name in names}
        for port in ports.values():
            ctx.set(port.valid, 0)
        ctx.set(dut.result.ready, 1)
        ctx.set(dut.start, 1)
        for port, value in start.items():
            ctx.set(getattr(dut, port), value)
        await ctx.tick()
        ctx.set(dut.start, 0)
        cycle, at, offered = 0, dict.fromkeys(names, 0), dict.fromkeys(names, False)
        while res["done"] < 0:
            for s, name in enumerate(names):
                items = streams[name]
                if not offered[name]:
                    held = gaps is not None and cycle < len(gaps) and bool(gaps[cycle][s])
                    offered[name] = at[name] < len(items) and not held and not (bubbles and rng.random() < bubbles)
                ctx.set(ports[name].valid, int(offered[name]))
                if at[name] < len(items):
                    ctx.set(ports[name].payload, items[at[name]])
            taking = ready is None or cycle >= len(ready) or bool(ready[cycle])
            ctx.set(dut.result.ready, int(taking))
            taken = {name: offered[name] and ctx.get(ports[name].ready) for name in names}
            res["stalls"] += ctx.get(dut.stall)
            if ctx.get(dut.result.valid):
                if taking:
                    result = ctx.get(dut.result.payload).columns
                    for c in range(cols):
                        if result[c].keep:
                            res["writes"] += 1
                            res["last"] = cycle
                            res["log"].append((cycle, c, result[c].as_bits()))
                            take(result[c])
                else:
                    res["held"] += 1
            if ctx.get(dut.done):
                res["done"] = cycle
            await ctx.tick()
            for name in names:
                if taken[name]:
                    at[name] += 1
                    offered[name] = False
            cycle += 1
            if cycle > limit:
                raise RuntimeError(f"GEMM did not finish in {limit} cycles")
        res["cycles"] = res["done"]

    async def bench(ctx):
        for job in jobs:
            res = new_result()
            results.append(res)
            await run(ctx, job, res)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


def run_gemm(cfg: RtlConfig, a: np.ndarray, values: np.ndarray, index: np.ndarray, n_keep: int, m_group: int,
             chunk: int | None = None, interleave: bool = True, *, shadow: bool | None = None, early: int = 0,
             bubbles: float = 0.0, seed: int = 0, gaps=None, ready=None,
             dut: WeightStationaryGemmEngine | None = None, driver=drive) -> GemmRun:
    """C = A @ W for W in N:M-compressed form (``values``/``index`` [k_exec x n]); ``chunk``
    rows of A per chunk (default all). ``bubbles``: the probability that a stream offers no new
    item in a cycle (the engine must stall and stay exact); ``gaps``: per cycle, the streams
    (w, a) that offer no new item; ``ready``: per cycle, whether the result stream is ready.
    ``dut``: the engine to run (default one sized to the GEMM); ``driver``: :func:`drive`
    (amaranth.sim) or a :class:`.verilog_check.VerilogSim`."""
    M, (K, N) = a.shape[0], values.shape
    if m_group > cfg.lanes:
        raise ValueError(f"{n_keep}:{m_group} needs {m_group} lanes; the array has {cfg.lanes}")
    chunk = M if not chunk or chunk > M else chunk
    R, C = cfg.rows, cfg.cols
    tiles = tile_order(cfg, M, N, K, chunk, interleave)
    w_items, a_items = [], []
    for tl in tiles:
        cols = slice(tl.t * C, tl.t * C + tl.xt)
        for r in reversed(range(tl.kt)):                         # the tile's lowest row first
            w_items.append((_pad(values[tl.j * R + r, cols], C), _pad(index[tl.j * R + r, cols], C)))
        for q in range(tl.s):
            row = a[tl.c0 + q]
            lanes = []
            for r in range(R):
                vec = [0] * cfg.lanes
                if r < tl.kt:
                    g = ((tl.j * R + r) // n_keep) * m_group
                    group = row[g:g + m_group]
                    vec[:len(group)] = [int(v) for v in group]
                lanes.append(vec)
            a_items.append(lanes)
    if dut is None:
        dut = WeightStationaryGemmEngine(cfg, max_m=M, max_n=N, max_k=K, max_chunk=chunk, shadow=shadow, early=early)
    out = np.zeros((M, N), np.int64)
    limit = 4 * len(tiles) * (chunk + 2 * R + C + cfg.acc_latency + cfg.mac_stages) + 100

    def take(r):
        if r.final:
            out[r.row, r.col] = r.value

    res = driver(dut, dict(m=M, n=N, k=K, chunk=chunk, interleave=int(interleave)),
                 {"w": [{"values": v, "index": i} for v, i in w_items], "a": [{"lanes": lanes} for lanes in a_items]},
                 C, take, limit, bubbles, seed, gaps=gaps, ready=ready)
    return run_of(out, res)


def run_of(out: np.ndarray, res: dict) -> GemmRun:
    return GemmRun(out, res["last"], res["done"], res["writes"], res["cycles"], res["stalls"], res["log"], res["held"])
