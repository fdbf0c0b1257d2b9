"""Verilog for the generated designs (deterministic: no source locations)."""
from __future__ import annotations

from amaranth.back import verilog
from amaranth.lib import wiring

from ..arch.schema import NMPattern
from .arrays import OutputStationaryArray
from .config import RtlConfig
from .gemm_engine import WeightStationaryGemmEngine
from .os_gemm_engine import OutputStationaryGemmEngine
from .pruning import PruningLane
from .top import WeightStationaryEngine


def designs(cfg: RtlConfig, dataflows: list[str], patterns: list[NMPattern]) -> dict[str, wiring.Component]:
    """Top-level name -> component: the arrays the arch's dataflows need (for weight-stationary the
    single-tile stream engine and the whole-GEMM engine, whose accumulator latency and weight double
    buffer are the arch's; for output-stationary the single-tile array and the whole-GEMM engine
    with the arch's adder latency and L accumulators per PE) and a pruning lane per sparse pattern."""
    out: dict[str, wiring.Component] = {}
    if "weight_stationary" in dataflows:
        out["ws_engine"] = WeightStationaryEngine(cfg)
        out["ws_gemm"] = WeightStationaryGemmEngine(cfg)
    if "output_stationary" in dataflows:
        out["os_array"] = OutputStationaryArray(cfg)
        out["os_gemm"] = OutputStationaryGemmEngine(cfg)
    for p in patterns:
        if not p.dense:
            out[f"prune_{p.n}of{p.m}"] = PruningLane(p.n, p.m, cfg.op_bits)
    return out


def to_verilog(component: wiring.Component, name: str) -> str:
    return verilog.convert(component, name=name, emit_src=False)
