"""The PE datapaths the array builds: operand, product and accumulator shapes, the one multiplier
and the one adder. :class:`IntDatapath`, two's-complement integers (int8 x int8 -> int32 in the
generated designs); :class:`Fp16Fp32Datapath`, SAT's FP16 x FP16 products accumulated in FP32
(:mod:`.fp_arith`), as bit patterns."""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import signed, unsigned

from .fp_arith import fp16_mul, fp32_add


@dataclass(frozen=True)
class IntDatapath:
    op_bits: int
    acc_bits: int
    name = "int"
    # an inactive row's product must be zero: an integer product with a zero activation is
    gated = False

    @property
    def op_shape(self):
        return signed(self.op_bits)

    @property
    def product_shape(self):
        return signed(2 * self.op_bits)

    @property
    def acc_shape(self):
        return signed(self.acc_bits)

    @staticmethod
    def mul(m, a, b):
        return a * b

    @staticmethod
    def add(m, a, b):
        return a + b


@dataclass(frozen=True)
class Fp16Fp32Datapath:
    op_bits = 16
    acc_bits = 32
    name = "fp16_fp32"
    # a stale weight of a row the k-tile does not use may be inf or NaN, and inf x 0 is NaN: the
    # array zeroes the products of inactive rows (``act_on``)
    gated = True
    op_shape = unsigned(16)
    product_shape = unsigned(32)
    acc_shape = unsigned(32)
    mul = staticmethod(fp16_mul)
    add = staticmethod(fp32_add)


PES = ("int", "fp16_fp32")


def datapath(pe: str, op_bits: int, acc_bits: int):
    if pe == "int":
        return IntDatapath(op_bits, acc_bits)
    if pe == "fp16_fp32":
        if (op_bits, acc_bits) != (16, 32):
            raise ValueError(f"the fp16_fp32 PE has 16-bit operands and 32-bit accumulators, not {op_bits}/{acc_bits}")
        return Fp16Fp32Datapath()
    raise ValueError(f"no PE {pe!r} (expected one of {', '.join(PES)})")
