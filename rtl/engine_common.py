"""Pieces the whole-GEMM engines share: register delays, widths, the result record and the
whole-engine stall on a missing stream transfer."""
from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data


def delay(m: Module, value, cycles: int, shape):
    """``value`` through ``cycles`` registers."""
    for _ in range(cycles):
        reg = Signal(shape)
        m.d.sync += reg.eq(value)
        value = reg
    return value


def bits(n: int) -> int:
    return max(1, (max(n, 1)).bit_length())


def result_layout(max_m: int, max_n: int, acc_bits: int, final: bool = True) -> data.StructLayout:
    """One accumulator write shown on a result port: output ``row``/``col`` and ``value`` (and
    ``final`` where an output is written more than once)."""
    fields = {"valid": 1, "final": 1} if final else {"valid": 1}
    return data.StructLayout({**fields, "row": unsigned(bits(max_m)), "col": unsigned(bits(max_n)),
                              "value": signed(acc_bits)})


def stall_on_streams(outer: Module, core: Module, streams) -> tuple[Signal, Signal]:
    """Put ``core`` into ``outer`` with every register enabled only while each stream the core
    needs this cycle is valid. ``streams`` is a list of ``(need, valid, ready)``; ``ready`` is
    driven with ``need & en``. The array cannot stall on its own, so the whole engine waits,
    which keeps results exact and adds exactly the stalled cycles. Returns ``(en, fresh)``:
    ``fresh`` is high when the registers moved at the last clock edge (for qualifying outputs)."""
    en = Signal()
    ok = 1
    for need, valid, _ in streams:
        ok = ok & ~(need & ~valid)
    outer.d.comb += en.eq(ok)
    outer.submodules.core = EnableInserter(en)(core)
    fresh = Signal(init=1)
    outer.d.sync += fresh.eq(en)
    for need, _, ready in streams:
        outer.d.comb += ready.eq(need & en)
    return en, fresh
