"""Verilog for the generated designs (deterministic: no source locations)."""
from __future__ import annotations

from amaranth.back import verilog
from amaranth.lib import wiring

from ..arch.schema import NMPattern
from .arrays import OutputStationaryArray
from .config import RtlConfig
from .flex_gemm_engine import FlexibleGemmEngine
from .gemm_core import MODES, GemmEngine
from .gemm_engine import WeightStationaryGemmEngine
from .os_gemm_engine import OutputStationaryGemmEngine
from .pruning import PruningLane
from .top import WeightStationaryEngine
from .weight_update import LATENCY as UPDATE_LATENCY, WeightUpdateLane


GENERATED_DATAFLOWS = ("weight_stationary", "output_stationary")
FLEX_MODES = MODES   # FlexibleGemmEngine's mode at start
BOARD_ENGINES = ("ws_gemm", "os_gemm")   # the whole-GEMM engine a placed FPGA build wraps, first found


def board_engine(tops: dict[str, wiring.Component]) -> str:
    """The top the ECP5 byte shell wraps: the whole-GEMM weight-stationary engine (the one the
    model's weight-stationary numbers rest on), else the output-stationary one, else the first."""
    return next((name for name in BOARD_ENGINES if name in tops), next(iter(tops)))


def designs(cfg: RtlConfig, dataflows: list[str], patterns: list[NMPattern]) -> dict[str, wiring.Component]:
    """Top-level name -> component: the arrays the arch's dataflows need (for weight-stationary the
    single-tile stream engine and the whole-GEMM engine, whose accumulator latency, MAC pipeline and
    weight double buffer are the arch's; for output-stationary the single-tile array and the
    whole-GEMM engine with the arch's adder latency, MAC pipeline and L accumulators per PE; with
    both dataflows also the flexible
    whole-GEMM engine, one array switched between them at each GEMM's start) and a pruning lane per
    sparse pattern (on the operands' magnitudes: FP16 ones for the fp16_fp32 PE). The single-tile
    engines are integer only: the fp16_fp32 PE builds the whole-GEMM engines, and with them one
    lane of the FP32 weight update."""
    out: dict[str, wiring.Component] = {}
    single_tile = cfg.pe == "int"
    if "weight_stationary" in dataflows:
        if single_tile:
            out["ws_engine"] = WeightStationaryEngine(cfg)
        out["ws_gemm"] = WeightStationaryGemmEngine(cfg)
    if "output_stationary" in dataflows:
        if single_tile:
            out["os_array"] = OutputStationaryArray(cfg)
        out["os_gemm"] = OutputStationaryGemmEngine(cfg)
    if "weight_stationary" in dataflows and "output_stationary" in dataflows:
        out["flex_gemm"] = FlexibleGemmEngine(cfg)
    for p in patterns:
        if not p.dense:
            out[f"prune_{p.n}of{p.m}"] = PruningLane(p.n, p.m, cfg.op_bits, floating=not single_tile)
    if not single_tile:
        out["update_fp32"] = WeightUpdateLane()
    return out


def params(cfg: RtlConfig, dataflows: list[str], tops: dict[str, wiring.Component], source: str = "") -> dict:
    """Exactly what was built: the datapath, the engines' timing parameters and each top's limits."""
    engines = {}
    for name, comp in tops.items():
        entry = {"class": type(comp).__name__}
        if isinstance(comp, GemmEngine):
            if len(comp.dataflows) > 1:
                entry.update(dataflows=list(comp.dataflows), mode=FLEX_MODES)
            else:
                entry.update(dataflow=comp.dataflows[0])
            entry.update(acc_latency=cfg.acc_latency, mac_pipeline_stages=cfg.mac_stages)
            if comp.has_ws:
                entry.update(weight_double_buffer=comp.shadow)
            entry.update(max_m=comp.max_m, max_n=comp.max_n, max_k=comp.max_k)
            entry.update({key: getattr(comp, key) for key in ("max_chunk", "max_group") if getattr(comp, key)})
            # amaranth.lib.stream ports; the engine stalls while the result stream is not ready
            entry.update(streams={"w": "in", "a": "in", "result": "out"}, result_backpressure=True)
        elif isinstance(comp, (WeightStationaryEngine, OutputStationaryArray)):
            entry.update(dataflow="weight_stationary" if isinstance(comp, WeightStationaryEngine)
                         else "output_stationary", acc_latency=1, mac_pipeline_stages=1, single_tile=True)
        elif isinstance(comp, PruningLane):
            entry.update(n=comp.n, m=comp.m, element="float" if comp.floating else "int", bits=comp.op_bits)
        elif isinstance(comp, WeightUpdateLane):
            entry.update(operation="w - lr * g", precision="fp32", latency=UPDATE_LATENCY, cycles_per_element=1)
        engines[name] = entry
    return {"arch": str(source), "pe": cfg.pe, "rows": cfg.rows, "cols": cfg.cols, "lanes": cfg.lanes,
            "op_bits": cfg.op_bits,
            "acc_bits": cfg.acc_bits, "acc_latency": cfg.acc_latency, "mac_pipeline_stages": cfg.mac_stages,
            "weight_double_buffer": cfg.weight_double_buffer,
            "dataflows": [f for f in dataflows if f in GENERATED_DATAFLOWS], "engines": engines}


def to_verilog(component: wiring.Component, name: str) -> str:
    return verilog.convert(component, name=name, emit_src=False)
