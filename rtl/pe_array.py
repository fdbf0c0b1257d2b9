"""The PE array of every whole-GEMM engine: R x C PEs, each with one multiplier (its kept weight
times the activation its M:1 multiplexer picks), one adder and one weight/index register chain
down its column, built for weight-stationary, output-stationary or both (SAT's flexible array,
switched by ``mode`` between GEMMs); a dataflow not asked for is not built at all.

- the activations enter row r after r cycles and move right one PE a cycle (both dataflows);
- the weight chain: weight-stationary, a tile's rows shift down it during preload, with the
  stream's column skew (``w_inj`` with ``w_pos``, the row's position in its tile: row r of column
  c shifts when ``w_pos >= r`` reaches column c), into shadow registers if ``shadow`` (every PE
  takes its shadow weight when ``sw``, the first row of a tile, reaches it) or straight into the
  working ones; output-stationary, B moves down it every cycle and PE (r, c) multiplies with the
  value that entered column c r cycles before;
- the MAC pipeline (``cfg.mac_stages = P``): stage 1 is the adder's register (psum or
  accumulator), P >= 2 registers the selected operands (the weight and the M:1 multiplexer's
  output), P >= 3 the product, more stages more product registers: every product reaches the
  adder ``D = P - 1`` cycles after its operands reached the PE. The stages are before the adder,
  so neither the partial-sum chain nor an accumulator's loop passes through them;
- the adder: weight-stationary, the partial sum from the PE above plus the product into the PE's
  partial-sum register (``psum[c]``: the bottom row's, of a row of A that entered at cycle t, at
  cycle ``t + R + c + D``); output-stationary, the product plus the slot's accumulator (0 for a
  slot's first step) through an L-cycle pipeline into one of the PE's G accumulators, copied to
  its shadows with the group's last step; ``rd_row``/``rd_slot`` pick per column the shadow
  ``shadow_out[c]`` shows. A step's tag (``valid``, ``first``, ``last``, ``slot``) enters with
  it at the top-left and reaches PE (r, c) r + c (+ D, with its product) cycles later;
- the datapath (``cfg.datapath``, :mod:`.datapath`): the multiplier, the adder and the shapes,
  int8 x int8 -> int32 or SAT's FP16 x FP16 -> FP32 (:mod:`.fp_arith`). A gated datapath (FP: a
  stale weight of a row the k-tile does not use may be inf, and inf x 0 is NaN) has ``act_on``,
  one bit per row that travels with the row's activations: a product whose bit is low is +0.
"""
from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import delay

WS_PORTS = ("w_inj", "w_pos", "sw", "w_top", "idx_top", "act", "act_on", "psum")
OS_PORTS = ("tag", "w_top", "idx_top", "act", "act_on", "rd_row", "rd_slot", "shadow_out")
SHARED = ("w_top", "idx_top", "act", "act_on")  # driven by whichever dataflow runs (act_on: gated datapaths only)


def tag_layout(groups: int) -> data.StructLayout:
    return data.StructLayout({"valid": 1, "first": 1, "last": 1, "slot": range(max(groups, 2))})


class PeArray(wiring.Component):
    def __init__(self, cfg: RtlConfig, ws: bool = True, os: bool = True, groups: int = 1, shadow: bool = False):
        if not (ws or os):
            raise ValueError("a PE array needs at least one dataflow")
        self.cfg, self.ws, self.os, self.G, self.shadow = cfg, ws, os, groups, shadow and ws
        dp = cfg.datapath
        lanes = data.ArrayLayout(dp.op_shape, cfg.lanes)
        slot = range(max(groups, 2))               # (never zero bits wide: lint)
        members = {
            "w_top": In(data.ArrayLayout(dp.op_shape, cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
        }
        if dp.gated:                               # the rows whose lanes carry a step (else product 0)
            members["act_on"] = In(cfg.rows)
        if ws and os:
            members["mode"] = In(1)                # 0: weight-stationary, 1: output-stationary
        if ws:
            members.update({"w_inj": In(1), "w_pos": In(range(cfg.rows)), "sw": In(1),
                            "psum": Out(data.ArrayLayout(dp.acc_shape, cfg.cols))})
        if os:
            members.update({"tag": In(tag_layout(groups)),
                            "rd_row": In(data.ArrayLayout(range(max(cfg.rows, 2)), cfg.cols)),
                            "rd_slot": In(data.ArrayLayout(slot, cfg.cols)),
                            "shadow_out": Out(data.ArrayLayout(dp.acc_shape, cfg.cols))})
        super().__init__(members)

    def ports(self, names) -> wiring.PureInterface:
        """Signals for one controller to drive in place of this array's ``names`` ports (those it has)."""
        return wiring.Signature({n: self.signature.members[n] for n in names if n in self.signature.members}).create()

    def elaborate(self, platform):
        m = Module()
        cfg, G = self.cfg, self.G
        R, C, L, D = cfg.rows, cfg.cols, cfg.acc_latency, cfg.mac_stages - 1
        dp = cfg.datapath
        wshape, ishape, ashape, pshape = dp.op_shape, unsigned(cfg.index_bits), dp.acc_shape, dp.product_shape
        lanes = data.ArrayLayout(dp.op_shape, cfg.lanes)
        os_mode = self.mode if (self.ws and self.os) else Const(int(self.os), 1)

        # the weight chain: wr[r][c] shifts from above (row 0: the column's input, skewed c cycles)
        wr = [[Signal(wshape, name=f"{'sh' if self.shadow else 'w'}_{r}_{c}") for c in range(C)] for r in range(R)]
        ir = [[Signal(ishape, name=f"{'shi' if self.shadow else 'idx'}_{r}_{c}") for c in range(C)] for r in range(R)]
        w_in = [delay(m, self.w_top[c], c, wshape) for c in range(C)]
        i_in = [delay(m, self.idx_top[c], c, ishape) for c in range(C)]
        inj, pos = (self.w_inj, self.w_pos) if self.ws else (None, None)
        for c in range(C):
            if self.ws and c:
                inj, pos = delay(m, inj, 1, 1), delay(m, pos, 1, range(R))
            for r in range(R):
                ws_shift = (inj & (pos >= r) if r else inj) if self.ws else None   # (pos >= 0 is constant: lint)
                shift = os_mode | ws_shift if (self.ws and self.os) else (ws_shift if self.ws else None)
                moves = [wr[r][c].eq(w_in[c] if r == 0 else wr[r - 1][c]),
                         ir[r][c].eq(i_in[c] if r == 0 else ir[r - 1][c])]
                if shift is None:                  # output-stationary only: B moves every cycle
                    m.d.sync += moves
                else:
                    with m.If(shift):
                        m.d.sync += moves

        if self.os:                                # the tag of PE (r, c) is diag[r + c], D late with its product
            diag = [delay(m, self.tag, D, self.tag.shape())]
            for _ in range(R + C - 2):
                diag.append(delay(m, diag[-1], 1, self.tag.shape()))
            shadows = [[Array(Signal(ashape, name=f"shadow_{r}_{c}_{j}") for j in range(G)) for c in range(C)]
                       for r in range(R)]
            wb = data.StructLayout({"en": 1, "last": 1, "slot": range(max(G, 2)), "value": ashape})
        psum = [[Signal(ashape, name=f"psum_{r}_{c}") for c in range(C)] for r in range(R)] if self.ws else None
        sw_row = self.sw if self.ws else None
        for r in range(R):
            act = delay(m, self.act[r], r, lanes)
            on = delay(m, self.act_on[r], r, 1) if dp.gated else None
            if self.ws and r:
                sw_row = delay(m, sw_row, 1, 1)
            sw = sw_row
            for c in range(C):
                operands = []
                if self.ws:                        # the loaded weight (through the shadow swap)
                    if self.shadow:
                        w_act = Signal(wshape, name=f"w_{r}_{c}")
                        i_act = Signal(ishape, name=f"idx_{r}_{c}")
                        with m.If(sw):
                            m.d.sync += [w_act.eq(wr[r][c]), i_act.eq(ir[r][c])]
                        operands.append((Mux(sw, wr[r][c], w_act), Mux(sw, ir[r][c], i_act)))
                    else:
                        operands.append((wr[r][c], ir[r][c]))
                if self.os:                        # B as it passes (row 0: the column's input)
                    operands.append((w_in[c] if r == 0 else wr[r - 1][c], i_in[c] if r == 0 else ir[r - 1][c]))
                if len(operands) == 2:
                    (ws_w, ws_i), (os_w, os_i) = operands
                    weight, index = Mux(os_mode, os_w, ws_w), Mux(os_mode, os_i, ws_i)
                else:
                    (weight, index), = operands
                picked = act[index]                # the M:1 multiplexer
                if D >= 1:                         # stage 2: the selected operands
                    weight, picked = delay(m, weight, 1, wshape), delay(m, picked, 1, wshape)
                product = Signal(pshape, name=f"prod_{r}_{c}")
                m.d.comb += product.eq(dp.mul(m, weight, picked))              # the PE's one multiplier
                product = delay(m, product, max(D - 1, 0), pshape)          # stages 3..P: the product
                if dp.gated:
                    product = Mux(delay(m, on, D, 1), product, Const(0, pshape))
                addends = []
                if self.ws:
                    addends.append(psum[r - 1][c] if r else Const(0, ashape))
                if self.os:
                    tag = diag[r + c]
                    acc = Array(Signal(ashape, name=f"acc_{r}_{c}_{j}") for j in range(G))
                    addends.append(Mux(tag.first, 0, acc[tag.slot]))
                addend = Mux(os_mode, addends[1], addends[0]) if len(addends) == 2 else addends[0]
                total = Signal(ashape, name=f"sum_{r}_{c}")
                m.d.comb += total.eq(dp.add(m, addend, product))              # the PE's one adder
                if self.ws:
                    m.d.sync += psum[r][c].eq(total)
                if self.os:
                    s0 = Signal(wb, name=f"os_{r}_{c}")
                    m.d.comb += [s0.en.eq(os_mode & tag.valid), s0.last.eq(os_mode & tag.valid & tag.last),
                                 s0.slot.eq(tag.slot), s0.value.eq(total)]
                    out = delay(m, s0, L - 1, wb)     # the adder's pipeline: written at the L-th edge
                    for j in range(G):
                        nxt = Mux(out.en & (out.slot == j), out.value, acc[j])
                        m.d.sync += acc[j].eq(nxt)
                        with m.If(out.last):
                            m.d.sync += shadows[r][c][j].eq(nxt)
                if c + 1 < C:
                    act = delay(m, act, 1, lanes)
                    on = delay(m, on, 1, 1) if dp.gated else None
                    if self.ws:
                        sw = delay(m, sw, 1, 1)
        if self.ws:
            m.d.comb += [self.psum[c].eq(psum[R - 1][c]) for c in range(C)]
        if self.os:
            for c in range(C):
                rows = Array(shadows[r][c][self.rd_slot[c]] for r in range(R))
                m.d.comb += self.shadow_out[c].eq(rows[self.rd_row[c]])
        return m
