"""Systolic PE arrays for N:M sparse (and dense) GEMM tiles, weight- and output-stationary.

Every PE holds or receives one kept weight and its in-group index, and an M:1 multiplexer picks
the matching activation from the ``lanes`` activations of its group (dense is N = M = 1: one
activation, index 0). Integer datapath; the timing is the one ``sim.timing`` defines (see each
array's docstring), with an accumulator latency of one cycle.
"""
from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import delay as _delay


class WeightStationaryArray(wiring.Component):
    """R x C weight-stationary array. Weights load from the top, one row per cycle while ``load``
    (the row loaded first ends lowest); a row of A enters each cycle as R lane vectors (row r
    gets the M activations of its weight row's group, zeros for unused rows), skewed inside by
    one cycle per row; partial sums move down a row per cycle and leave through the one-cycle
    accumulator register ``result``. A tile of kt weight rows and m rows of A streamed from
    cycle kt has its last result (row m-1, column nt-1) in ``result`` at cycle
    kt + m + (R - 1) + (nt - 1) + 1, as ``sim.timing`` says for one tile."""

    def __init__(self, cfg: RtlConfig):
        self.cfg = cfg
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "load": In(1),
            "w_top": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
            "act_valid": In(1),
            "result": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
            "result_valid": Out(cfg.cols),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        # a row of A's valid bit follows its data in the bottom row: skew, columns, psum, result
        valid = _delay(m, self.act_valid, R - 1, 1)
        for c in range(C):
            m.d.sync += self.result_valid[c].eq(_delay(m, valid, 1, 1))
            valid = _delay(m, valid, 1, 1)
        weight = [[Signal(signed(cfg.op_bits), name=f"w_{r}_{c}") for c in range(C)] for r in range(R)]
        index = [[Signal(unsigned(cfg.index_bits), name=f"idx_{r}_{c}") for c in range(C)] for r in range(R)]
        psum = [[Signal(signed(cfg.acc_bits), name=f"psum_{r}_{c}") for c in range(C)] for r in range(R)]
        for r in range(R):
            act = _delay(m, self.act[r], r, lanes)
            for c in range(C):
                with m.If(self.load):
                    m.d.sync += [weight[r][c].eq(self.w_top[c] if r == 0 else weight[r - 1][c]),
                                 index[r][c].eq(self.idx_top[c] if r == 0 else index[r - 1][c])]
                above = psum[r - 1][c] if r else 0
                m.d.sync += psum[r][c].eq(above + weight[r][c] * act[index[r][c]])
                if c + 1 < C:
                    act = _delay(m, act, 1, lanes)
        for c in range(C):
            m.d.sync += self.result[c].eq(psum[R - 1][c])
        return m


class OutputStationaryArray(wiring.Component):
    """R x C output-stationary array. Each cycle one step of the reduction enters: for each row
    its lane vector of A (skewed one cycle per row), for each column one kept weight and its
    index (skewed one cycle per column), and ``first`` on the first step, which travels with A
    and restarts the accumulators. ``drain`` shifts the outputs down a row per cycle into the
    registered ``result``. A tile of k steps from cycle 0 has its last product in the PEs at
    cycle k + (mt - 1) + (nt - 1); draining from then on, row 0's outputs are in ``result`` R
    cycles later: (mt - 1) + (nt - 1) + k + R, as ``sim.timing`` says for one tile."""

    def __init__(self, cfg: RtlConfig):
        self.cfg = cfg
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "first": In(1),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
            "w_top": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "drain": In(1),
            "result": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
            "result_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        acc = [[Signal(signed(cfg.acc_bits), name=f"acc_{r}_{c}") for c in range(C)] for r in range(R)]
        # weights enter column c after c cycles and move down a row per cycle
        weight = [[None] * C for _ in range(R)]
        index = [[None] * C for _ in range(R)]
        for c in range(C):
            w = _delay(m, self.w_top[c], c, signed(cfg.op_bits))
            i = _delay(m, self.idx_top[c], c, unsigned(cfg.index_bits))
            for r in range(R):
                weight[r][c], index[r][c] = w, i
                w = _delay(m, w, 1, signed(cfg.op_bits))
                i = _delay(m, i, 1, unsigned(cfg.index_bits))
        for r in range(R):
            act = _delay(m, self.act[r], r, lanes)
            first = _delay(m, self.first, r, 1)
            for c in range(C):
                product = weight[r][c] * act[index[r][c]]
                with m.If(self.drain):
                    m.d.sync += acc[r][c].eq(acc[r - 1][c] if r else 0)
                with m.Elif(first):
                    m.d.sync += acc[r][c].eq(product)
                with m.Else():
                    m.d.sync += acc[r][c].eq(acc[r][c] + product)
                if c + 1 < C:
                    act = _delay(m, act, 1, lanes)
                    first = _delay(m, first, 1, 1)
        m.d.sync += self.result_valid.eq(self.drain)
        with m.If(self.drain):
            for c in range(C):
                m.d.sync += self.result[c].eq(acc[R - 1][c])
        return m
