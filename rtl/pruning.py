"""The top-N-of-M pruning unit (one lane of SAT's SORE): one element per cycle, M cycles a group.

The lane keeps N candidates (value and position in the group). An element fills a free slot, or
replaces the weakest candidate (smallest magnitude; among equals the later position) when its
magnitude is strictly larger, so ties keep the earlier element, like ``kernels.reference``. After
the group's last element the kept-position mask and the candidates appear, registered, with
``out_valid``; the next group can start in the following cycle.

Elements are two's-complement integers, or with ``floating`` IEEE bit patterns (FP16, FP32: sign
and magnitude), ranked by the magnitude bits: for every non-NaN value the order of ``abs``, +0
and -0 equal; a NaN ranks above infinity.
"""
from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class PruningLane(wiring.Component):
    def __init__(self, n: int, m: int, op_bits: int, floating: bool = False):
        if not 1 <= n <= m:
            raise ValueError(f"expected 1 <= N <= M, got {n}:{m}")
        self.n, self.m, self.op_bits, self.floating = n, m, op_bits, floating
        self.shape = unsigned(op_bits) if floating else signed(op_bits)
        self.pos_bits = max(1, (m - 1).bit_length())
        super().__init__({
            "valid": In(1),
            "element": In(self.shape),
            "out_valid": Out(1),
            "mask": Out(m),
            "values": Out(data.ArrayLayout(self.shape, n)),
            "positions": Out(data.ArrayLayout(unsigned(self.pos_bits), n)),
        })

    def elaborate(self, platform):
        mod = Module()
        n, m = self.n, self.m
        position = Signal(range(m))
        values = [Signal(self.shape, name=f"value_{j}") for j in range(n)]
        positions = [Signal(unsigned(self.pos_bits), name=f"pos_{j}") for j in range(n)]
        def size(v):
            return v[:self.op_bits - 1] if self.floating else Mux(v < 0, -v, v)
        magnitude = [size(v) for v in values]
        incoming = size(self.element)
        # the weakest candidate: smallest magnitude, among equals the later position
        pick = Signal(range(max(n, 2)), name="weakest")
        best_mag = Signal(magnitude[0].shape(), name="weakest_mag")
        current, current_mag, current_pos = 0, magnitude[0], positions[0]
        for j in range(1, n):
            take = (magnitude[j] < current_mag) | ((magnitude[j] == current_mag) & (positions[j] > current_pos))
            current = Mux(take, j, current)
            current_mag = Mux(take, magnitude[j], current_mag)
            current_pos = Mux(take, positions[j], current_pos)
        mod.d.comb += [pick.eq(current), best_mag.eq(current_mag)]
        # each slot's content once this element is in
        after_values, after_positions = [], []
        for j in range(n):
            fills = position == j                                      # the first N elements fill the slots
            replaces = (position >= n) & (pick == j) & (incoming > best_mag)
            hit = Signal(name=f"hit_{j}")
            mod.d.comb += hit.eq(fills | replaces)
            after_values.append(Mux(hit, self.element, values[j]))
            after_positions.append(Mux(hit, position, positions[j]))
        last = self.valid & (position == m - 1)
        with mod.If(self.valid):
            mod.d.sync += position.eq(Mux(last, 0, position + 1))
            for j in range(n):
                mod.d.sync += [values[j].eq(after_values[j]), positions[j].eq(after_positions[j])]
        mod.d.sync += self.out_valid.eq(last)
        with mod.If(last):
            mask = 0
            for j in range(n):
                mask = mask | (1 << after_positions[j])
                mod.d.sync += [self.values[j].eq(after_values[j]), self.positions[j].eq(after_positions[j])]
            mod.d.sync += self.mask.eq(mask)
        return mod
