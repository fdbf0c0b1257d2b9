"""One lane of SAT's FP32 weight-update engine: ``w - lr * g`` on FP32 master weights, one weight
a cycle. The product ``lr * g`` (:func:`.fp_arith.fp32_mul`) is rounded to FP32 and registered,
then subtracted (:func:`.fp_arith.fp32_add` with the product's sign flipped), rounded and
registered: two roundings, as ``kernels.fp_reference.sgd_update_fp32``; ``out_valid`` and the new
weight follow an input by ``LATENCY`` cycles, and a new weight enters every cycle
(``weight_update.cycles_per_element: 1``). ``lr`` is held for the run."""
from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .engine_common import delay
from .fp_arith import fp32_add, fp32_mul

LATENCY = 2


class WeightUpdateLane(wiring.Component):
    def __init__(self):
        super().__init__({"valid": In(1), "w": In(32), "g": In(32), "lr": In(32),
                          "out_valid": Out(1), "w_new": Out(32)})

    def elaborate(self, platform):
        m = Module()
        product = Signal(32)
        m.d.sync += product.eq(fp32_mul(m, self.lr, self.g))           # stage 1: the rounded product
        w = delay(m, self.w, 1, 32)
        m.d.sync += self.w_new.eq(fp32_add(m, w, Cat(product[:31], ~product[31])))   # stage 2: w - product
        m.d.sync += self.out_valid.eq(delay(m, self.valid, 1, 1))
        return m
