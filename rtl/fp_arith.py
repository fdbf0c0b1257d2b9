"""Floating-point arithmetic of SAT's PE as combinational Amaranth expressions.

- :func:`fp16_mul`: FP16 x FP16 -> FP32, exact (an 11 x 11-bit significand product has at most
  22 bits, and every product of two FP16 numbers, subnormals included, lies between 2^-48 and
  2^32: a normal FP32 number), so the product needs no rounding;
- :func:`fp32_add`: FP32 + FP32, IEEE 754 binary32 with round-to-nearest-even, subnormal inputs
  and results kept (not flushed), an overflow rounds to the infinity of its sign, an exact zero
  sum of operands of opposite signs is +0 (-0 + -0 is -0).

NaN policy: any NaN result (a NaN operand, inf x 0, inf - inf) is the canonical quiet NaN
``0x7fc00000``: payloads are not propagated. ``kernels.fp_reference`` rounds and canonicalises
the same way, so the array's results compare bit for bit.

In a GEMM an FP32 subnormal never arises: every FP16 value is an integer multiple of 2^-24, so
every product is one of 2^-48, and so is every rounded partial sum (below 2^-24 such a sum is
exact in FP32, above it FP32's spacing is at least 2^-47): a nonzero one is at least 2^-48 in
magnitude, far above 2^-126. The adder keeps subnormals anyway, so it is IEEE on all inputs.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value

NAN32 = 0x7FC00000


def _wire(m: Module, value, name: str) -> Signal:
    """``value`` as a named combinational signal (keeps the expression trees small in simulation
    and readable in the Verilog)."""
    value = Value.cast(value)
    sig = Signal(value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _leading_zeros(value: Value, width: int) -> Value:
    """Zeros above the highest set bit of ``value[:width]`` (``width`` when it is zero)."""
    count = Const(width, range(width + 1))
    for i in range(width):                       # the highest set bit wins (the last Mux applied)
        count = Mux(value[i], width - 1 - i, count)
    return count


def fp16_mul(m: Module, a, b) -> Value:
    """The exact FP32 bits of the product of the FP16 bit patterns ``a`` and ``b``."""
    a, b = _wire(m, a, "mul_a"), _wire(m, b, "mul_b")
    sa, ea, fa = a[15], a[10:15], a[:10]
    sb, eb, fb = b[15], b[10:15], b[:10]
    ma, mb = Cat(fa, ea != 0), Cat(fb, eb != 0)          # significands: a subnormal has no hidden bit
    ea1, eb1 = Mux(ea == 0, 1, ea), Mux(eb == 0, 1, eb)
    p = _wire(m, (ma * mb)[:22], "mul_p")                 # value p * 2^(ea1 + eb1 - 50)
    lz = _wire(m, _leading_zeros(p, 22), "mul_lz")
    exponent = (ea1 + eb1 + 98 - lz)[:8]                  # msb 21 - lz: 21 - lz + ea1 + eb1 - 50 + 127
    fraction = (p << (lz + 2))[:23]                       # the msb to bit 23, dropped (hidden)
    sign = sa ^ sb
    a_zero, b_zero = a[:15] == 0, b[:15] == 0
    a_inf, b_inf = (ea == 31) & (fa == 0), (eb == 31) & (fb == 0)
    nan = ((ea == 31) & (fa != 0)) | ((eb == 31) & (fb != 0)) | (a_inf & b_zero) | (b_inf & a_zero)
    return Mux(nan, NAN32,
               Mux(a_inf | b_inf, Cat(Const(0, 23), Const(0xFF, 8), sign),
                   Mux(a_zero | b_zero, Cat(Const(0, 31), sign), Cat(fraction, exponent, sign))))


def fp32_add(m: Module, a, b) -> Value:
    """The FP32 bits of ``a + b`` (FP32 bit patterns), rounded to nearest even."""
    a, b = _wire(m, a, "add_a"), _wire(m, b, "add_b")
    swap = b[:31] > a[:31]
    x, y = _wire(m, Mux(swap, b, a), "add_x"), _wire(m, Mux(swap, a, b), "add_y")   # |x| >= |y|
    ex, ey = x[23:31], y[23:31]
    ex1, ey1 = Mux(ex == 0, 1, ex), Mux(ey == 0, 1, ey)
    xs = Cat(Const(0, 3), x[:23], ex != 0)                # 24-bit significands and 3 guard bits
    ys = Cat(Const(0, 3), y[:23], ey != 0)
    d = (ex1 - ey1)[:8]
    shift = _wire(m, Mux(d > 27, 27, d)[:5], "add_shift")
    aligned = _wire(m, (ys >> shift)[:27], "add_aligned")
    sticky = (aligned << shift)[:27] != ys                # a bit shifted out
    yal = aligned | sticky
    subtract = x[31] ^ y[31]
    total = _wire(m, Mux(subtract, (xs - yal)[:28], (xs + yal)[:28]), "add_total")
    carry = total[27]
    # normalise: a carry shifts right one (keeping the sticky), else left to the hidden bit or as
    # far as the exponent allows (a subnormal result, exponent field 0)
    right = Cat(total[0] | total[1], total[2:28])
    lz = _wire(m, _leading_zeros(total, 27), "add_lz")
    room = (ex1 - 1)[:8]
    left_by = _wire(m, Mux(lz < room, lz, room), "add_left_by")
    left = (total[:27] << left_by)[:27]
    norm = _wire(m, Mux(carry, right, left), "add_norm")
    exponent = _wire(m, Mux(carry, ex1 + 1, ex1 - left_by)[:9], "add_exp")   # >= 1; the hidden bit carries the field's + 1
    lsb, guard, rest = norm[3], norm[2], norm[1] | norm[0]
    round_up = guard & (rest | lsb)
    packed = _wire(m, (Cat(norm[3:27], Const(0, 9)) + ((exponent - 1)[:9] << 23) + round_up)[:33], "add_packed")
    overflow = packed >= (0xFF << 23)
    sign = x[31]
    zero = total == 0
    x_nan, y_nan = (ex == 0xFF) & (x[:23] != 0), (ey == 0xFF) & (y[:23] != 0)
    inf = ex == 0xFF                                      # (|x| >= |y|: y infinite only if x is)
    nan = x_nan | y_nan | (inf & (ey == 0xFF) & subtract)
    return Mux(nan, NAN32,
               Mux(inf | overflow, Cat(Const(0, 23), Const(0xFF, 8), sign),
                   Mux(zero, Cat(Const(0, 31), sign & ~subtract), Cat(packed[:31], sign))))


def fp32_mul(m: Module, a, b) -> Value:
    """The FP32 bits of ``a * b`` (FP32 bit patterns), rounded to nearest even, subnormal inputs
    and results kept, an overflow to the infinity of its sign (the weight-update lane's multiply)."""
    a, b = _wire(m, a, "fmul_a"), _wire(m, b, "fmul_b")
    ea, eb = a[23:31], b[23:31]
    ma, mb = Cat(a[:23], ea != 0), Cat(b[:23], eb != 0)
    ea1, eb1 = Mux(ea == 0, 1, ea), Mux(eb == 0, 1, eb)
    p = _wire(m, ma * mb, "fmul_p")                       # 48 bits: value p * 2^(ea1 + eb1 - 300)
    lz = _wire(m, _leading_zeros(p, 48), "fmul_lz")
    exponent = Signal(range(-256, 512), name="fmul_exp")  # the field of the normalised product
    m.d.comb += exponent.eq(ea1 + eb1 - 126 - lz)
    norm = (p << lz)[:48]                                  # the msb at bit 47
    # below the normal range: right by 1 - exponent (at most 49: everything into the sticky)
    right = Signal(range(50), name="fmul_right")
    m.d.comb += right.eq(Mux(exponent >= 1, 0, Mux(exponent < -48, 49, 1 - exponent)))
    shifted = _wire(m, (norm >> right)[:48], "fmul_shifted")
    lost = (shifted << right)[:48] != norm
    lsb, guard, rest = shifted[24], shifted[23], (shifted[:23] != 0) | lost
    round_up = guard & (rest | lsb)
    field = Mux(exponent >= 1, exponent, 1)[:9]           # the hidden bit carries the field's + 1
    packed = _wire(m, (Cat(shifted[24:48], Const(0, 10)) + ((field - 1)[:9] << 23) + round_up)[:34], "fmul_packed")
    overflow = (exponent >= 0xFF) | (packed >= (0xFF << 23))
    sign = a[31] ^ b[31]
    a_zero, b_zero = a[:31] == 0, b[:31] == 0
    a_inf, b_inf = (ea == 0xFF) & (a[:23] == 0), (eb == 0xFF) & (b[:23] == 0)
    nan = ((ea == 0xFF) & (a[:23] != 0)) | ((eb == 0xFF) & (b[:23] != 0)) | (a_inf & b_zero) | (b_inf & a_zero)
    return Mux(nan, NAN32,
               Mux(a_inf | b_inf | (overflow & ~a_zero & ~b_zero), Cat(Const(0, 23), Const(0xFF, 8), sign),
                   Mux(a_zero | b_zero, Cat(Const(0, 31), sign), Cat(packed[:31], sign))))
