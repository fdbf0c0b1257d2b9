"""A board shell around a wide design: 18 pins instead of hundreds, for a placed FPGA bitstream
(``rtlgen --target ecp5`` wraps the whole-GEMM weight-stationary engine, ``ws_gemm``, in it).

Bytes arriving on ``rx`` (while ``rx_valid``) shift into a frame register that drives every
input of the wrapped design; every output is captured into a register that ``tx`` reads out a
byte per cycle. It exists so the design can be placed and routed against a real package; the
wrapped design's own fmax is measured out of context.
"""
from __future__ import annotations

from amaranth import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ByteShell(wiring.Component):
    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__({"rx": In(8), "rx_valid": In(1), "tx": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        ports = list(inner.signature.flatten(inner))      # stream ports: their payload, valid and ready
        ins = [value for _, member, value in ports if member.flow == wiring.In]
        outs = [value for _, member, value in ports if member.flow == wiring.Out]
        in_bits = sum(len(Value.cast(s)) for s in ins)
        out_bits = sum(len(Value.cast(s)) for s in outs)
        frame = Signal(max(in_bits, 8))
        with m.If(self.rx_valid):
            m.d.sync += frame.eq((frame << 8) | self.rx)
        offset = 0
        for port in ins:
            width = len(Value.cast(port))
            m.d.comb += port.eq(frame[offset:offset + width])
            offset += width
        captured = Signal(out_bits)
        m.d.sync += captured.eq(Cat(*[Value.cast(port) for port in outs]))
        byte = Signal(range(max(1, (out_bits + 7) // 8)))
        m.d.sync += byte.eq(byte + 1)
        m.d.comb += self.tx.eq((captured >> (byte * 8))[:8])
        return m

