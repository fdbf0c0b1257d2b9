"""A weight-stationary tile engine with plain valid/ready streams around the array.

``start`` (with ``kt`` weight rows and ``m`` rows of A) begins a tile: the engine takes kt rows
from the ``weights`` stream (the lowest row first), then m rows from the ``acts`` stream, one per
cycle while they are valid. Results leave through ``results`` (valid per column) as the array
produces them; the array cannot stall, so ``results`` has no ready. With both input streams
always valid the engine adds no cycle to the array's.
"""
from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arrays import WeightStationaryArray
from .config import RtlConfig


class WeightStationaryEngine(wiring.Component):
    def __init__(self, cfg: RtlConfig, max_rows: int = 1 << 16):
        self.cfg = cfg
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "start": In(1),
            "kt": In(range(cfg.rows + 1)),
            "m": In(range(max_rows + 1)),
            "busy": Out(1),
            "w_valid": In(1), "w_ready": Out(1),
            "w_values": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "w_index": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "a_valid": In(1), "a_ready": Out(1),
            "a_lanes": In(data.ArrayLayout(lanes, cfg.rows)),
            "results": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
            "results_valid": Out(cfg.cols),
        })
        self.max_rows = max_rows

    def elaborate(self, platform):
        mod = Module()
        mod.submodules.array = array = WeightStationaryArray(self.cfg)
        kt, rows = Signal.like(self.kt), Signal.like(self.m)
        count = Signal(range(self.max_rows + 1))
        mod.d.comb += [array.w_top.eq(self.w_values), array.idx_top.eq(self.w_index),
                       self.results.eq(array.result), self.results_valid.eq(array.result_valid)]
        with mod.FSM():
            with mod.State("IDLE"):
                with mod.If(self.start):
                    mod.d.sync += [kt.eq(self.kt), rows.eq(self.m), count.eq(0)]
                    mod.next = "PRELOAD"
            with mod.State("PRELOAD"):
                mod.d.comb += [self.busy.eq(1), self.w_ready.eq(1), array.load.eq(self.w_valid)]
                with mod.If(self.w_valid):
                    mod.d.sync += count.eq(count + 1)
                    with mod.If(count + 1 == kt):
                        mod.d.sync += count.eq(0)
                        mod.next = "STREAM"
            with mod.State("STREAM"):
                mod.d.comb += [self.busy.eq(1), self.a_ready.eq(1), array.act_valid.eq(self.a_valid)]
                with mod.If(self.a_valid):
                    mod.d.comb += array.act.eq(self.a_lanes)
                    mod.d.sync += count.eq(count + 1)
                    with mod.If(count + 1 == rows):
                        mod.next = "IDLE"
        return mod
