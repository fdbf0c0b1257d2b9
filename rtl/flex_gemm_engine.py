"""One PE array that runs whole GEMMs weight-stationary or output-stationary, switched between GEMMs
(SAT's flexible array): ``mode`` at ``start`` (0: weight-stationary, 1: output-stationary).

Every PE has one multiplier (kept weight x the activation its index picks), one adder and one
weight/index register chain down its column, used by both dataflows:

- the activations enter row r after r cycles and move right one PE a cycle (both dataflows);
- the weight chain: weight-stationary, a tile's rows shift down it during preload (into shadows
  with a double buffer, the working weights swapping when the tile's first row of A arrives);
  output-stationary, B moves down it every cycle and PE (r, c) multiplies with the value that
  entered column c r cycles before;
- the adder: weight-stationary, the partial sum from the PE above plus the product into the PE's
  partial-sum register (the bottom row's go to the accumulator banks); output-stationary, the
  product plus the slot's accumulator (0 for a slot's first step) through an L-cycle pipeline into
  one of the PE's accumulators (copied to its shadows with the group's last step).

The controllers are exactly those of :class:`~.gemm_engine.WeightStationaryGemmEngine` and
:class:`~.os_gemm_engine.OutputStationaryGemmEngine` (given this array's ports instead of a
private array), so each mode keeps its engine's schedule cycle for cycle; the mode's controller
drives the array and the streams, the other one idles. Ports: the union of both engines' (``chunk``
for weight-stationary, ``group`` for output-stationary) plus ``mode``; ``result`` has ``final``
(always set in output-stationary mode, where every output is shown once).
"""
from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import delay, result_layout
from .gemm_engine import WeightStationaryGemmEngine
from .os_gemm_engine import OutputStationaryGemmEngine

WS_PORTS = ("w_inj", "w_pos", "w_top", "idx_top", "act", "sw", "psum")
OS_PORTS = ("tag", "act", "w_top", "idx_top", "rd_row", "rd_slot", "shadow_out")


class FlexibleArray(wiring.Component):
    """R x C PEs, each with one multiplier and one adder shared by both dataflows (``mode`` 0:
    weight-stationary ports as :class:`~.gemm_engine.DoubleBufferedArray`, 1: output-stationary
    ports as :class:`~.os_gemm_engine.MultiAccumulatorArray` with ``groups`` accumulators)."""

    def __init__(self, cfg: RtlConfig, groups: int, shadow: bool):
        self.cfg, self.G, self.shadow = cfg, groups, shadow
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        slot = range(max(groups, 2))
        self.tag_layout = data.StructLayout({"valid": 1, "first": 1, "last": 1, "slot": slot})
        super().__init__({
            "mode": In(1),
            "w_inj": In(1), "w_pos": In(range(cfg.rows)), "sw": In(1),
            "w_top": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
            "psum": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
            "tag": In(self.tag_layout),
            "rd_row": In(data.ArrayLayout(range(max(cfg.rows, 2)), cfg.cols)),
            "rd_slot": In(data.ArrayLayout(slot, cfg.cols)),
            "shadow_out": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
        })

    def ports(self, names) -> wiring.PureInterface:
        """Signals for one controller to drive in place of this array's ``names`` ports."""
        return wiring.Signature({n: self.signature.members[n] for n in names}).create()

    def elaborate(self, platform):
        m = Module()
        cfg, G = self.cfg, self.G
        R, C, L = cfg.rows, cfg.cols, cfg.acc_latency
        wshape, ishape, ashape = signed(cfg.op_bits), unsigned(cfg.index_bits), signed(cfg.acc_bits)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        os_mode = self.mode
        # the weight chain: wr[r][c] shifts from above (row 0: the column's input, skewed c cycles)
        wr = [[Signal(wshape, name=f"wr_{r}_{c}") for c in range(C)] for r in range(R)]
        ir = [[Signal(ishape, name=f"ir_{r}_{c}") for c in range(C)] for r in range(R)]
        w_in = [delay(m, self.w_top[c], c, wshape) for c in range(C)]
        i_in = [delay(m, self.idx_top[c], c, ishape) for c in range(C)]
        inj, pos = self.w_inj, self.w_pos
        for c in range(C):
            if c:
                inj, pos = delay(m, inj, 1, 1), delay(m, pos, 1, range(R))
            for r in range(R):
                shift = os_mode | (inj & (pos >= r) if r else inj)
                with m.If(shift):
                    m.d.sync += [wr[r][c].eq(w_in[c] if r == 0 else wr[r - 1][c]),
                                 ir[r][c].eq(i_in[c] if r == 0 else ir[r - 1][c])]
        diag = [self.tag]                              # output-stationary: the tag of PE (r, c) is diag[r + c]
        for _ in range(R + C - 2):
            diag.append(delay(m, diag[-1], 1, self.tag_layout))
        psum = [[Signal(ashape, name=f"psum_{r}_{c}") for c in range(C)] for r in range(R)]
        shadows = [[Array(Signal(ashape, name=f"sh_{r}_{c}_{j}") for j in range(G)) for c in range(C)]
                   for r in range(R)]
        wb = data.StructLayout({"en": 1, "last": 1, "slot": range(max(G, 2)), "value": ashape})
        sw_row = self.sw
        for r in range(R):
            act = delay(m, self.act[r], r, lanes)
            if r:
                sw_row = delay(m, sw_row, 1, 1)
            sw = sw_row
            for c in range(C):
                # weight-stationary operand: the loaded weight (through the shadow swap)
                if self.shadow:
                    w_act = Signal(wshape, name=f"w_{r}_{c}")
                    i_act = Signal(ishape, name=f"idx_{r}_{c}")
                    with m.If(sw):
                        m.d.sync += [w_act.eq(wr[r][c]), i_act.eq(ir[r][c])]
                    ws_w, ws_i = Mux(sw, wr[r][c], w_act), Mux(sw, ir[r][c], i_act)
                else:
                    ws_w, ws_i = wr[r][c], ir[r][c]
                # output-stationary operand: B as it passes (row 0: the column's input)
                os_w = w_in[c] if r == 0 else wr[r - 1][c]
                os_i = i_in[c] if r == 0 else ir[r - 1][c]
                weight, index = Mux(os_mode, os_w, ws_w), Mux(os_mode, os_i, ws_i)
                product = Signal(signed(2 * cfg.op_bits), name=f"prod_{r}_{c}")
                m.d.comb += product.eq(weight * act[index])               # the PE's one multiplier
                tag = diag[r + c]
                acc = Array(Signal(ashape, name=f"acc_{r}_{c}_{j}") for j in range(G))
                above = psum[r - 1][c] if r else 0
                addend = Mux(os_mode, Mux(tag.first, 0, acc[tag.slot]), above)
                total = Signal(ashape, name=f"sum_{r}_{c}")
                m.d.comb += total.eq(addend + product)                     # the PE's one adder
                m.d.sync += psum[r][c].eq(total)
                s0 = Signal(wb, name=f"os_{r}_{c}")
                m.d.comb += [s0.en.eq(os_mode & tag.valid), s0.last.eq(os_mode & tag.valid & tag.last),
                             s0.slot.eq(tag.slot), s0.value.eq(total)]
                out = delay(m, s0, L - 1, wb)
                for j in range(G):
                    nxt = Mux(out.en & (out.slot == j), out.value, acc[j])
                    m.d.sync += acc[j].eq(nxt)
                    with m.If(out.last):
                        m.d.sync += shadows[r][c][j].eq(nxt)
                if c + 1 < C:
                    act = delay(m, act, 1, lanes)
                    sw = delay(m, sw, 1, 1)
        m.d.comb += [self.psum[c].eq(psum[R - 1][c]) for c in range(C)]
        for c in range(C):
            rows = Array(shadows[r][c][self.rd_slot[c]] for r in range(R))
            m.d.comb += self.shadow_out[c].eq(rows[self.rd_row[c]])
        return m


class FlexibleGemmEngine(wiring.Component):
    """Both whole-GEMM controllers around one :class:`FlexibleArray`; ``mode`` (latched at
    ``start``) picks the dataflow of each GEMM."""

    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_chunk: int = 16, max_group: int | None = None):
        self.cfg = cfg
        self.max_m, self.max_n, self.max_k, self.max_chunk = max_m, max_n, max_k, max_chunk
        self.max_group = max_group or max(1, cfg.acc_latency)
        self.shadow = cfg.weight_double_buffer
        self.flex = FlexibleArray(cfg, self.max_group, self.shadow)
        self.ws_ports, self.os_ports = self.flex.ports(WS_PORTS), self.flex.ports(OS_PORTS)
        self.ws = WeightStationaryGemmEngine(cfg, max_m, max_n, max_k, max_chunk, array=self.ws_ports)
        self.os = OutputStationaryGemmEngine(cfg, max_m, max_n, max_k, self.max_group, array=self.os_ports)
        self.result_layout = result_layout(max_m, max_n, cfg.acc_bits)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        R, C = cfg.rows, cfg.cols
        super().__init__({
            "start": In(1), "mode": In(1),
            "m": In(range(max_m + 1)), "n": In(range(max_n + 1)), "k": In(range(max_k + 1)),
            "chunk": In(range(max_chunk + 1)), "group": In(range(self.max_group + 1)), "interleave": In(1),
            "busy": Out(1), "done": Out(1), "stall": Out(1),
            "w_valid": In(1), "w_ready": Out(1),
            "w_values": In(data.ArrayLayout(signed(cfg.op_bits), C)),
            "w_index": In(data.ArrayLayout(unsigned(cfg.index_bits), C)),
            "a_valid": In(1), "a_ready": Out(1),
            "a_lanes": In(data.ArrayLayout(lanes, R)),
            "result": Out(data.ArrayLayout(self.result_layout, C)),
        })

    def elaborate(self, platform):
        m = Module()
        ws, os_, wp, op = self.ws, self.os, self.ws_ports, self.os_ports
        m.submodules.ws = ws
        m.submodules.os = os_
        mode = Signal()                                # the running GEMM's dataflow
        with m.If(self.start):
            m.d.sync += mode.eq(self.mode)
        # the array moves with the running controller's stall (an idle controller never stalls)
        en = Mux(mode, ~os_.stall, ~ws.stall)
        m.submodules.array = array = EnableInserter(en)(self.flex)
        m.d.comb += array.mode.eq(mode)
        m.d.comb += [array.w_inj.eq(wp.w_inj), array.w_pos.eq(wp.w_pos), array.sw.eq(wp.sw), wp.psum.eq(array.psum),
                     array.tag.eq(op.tag), array.rd_row.eq(op.rd_row), array.rd_slot.eq(op.rd_slot),
                     op.shadow_out.eq(array.shadow_out)]
        for name in ("w_top", "idx_top", "act"):
            m.d.comb += getattr(array, name).eq(Mux(mode, getattr(op, name).as_value(), getattr(wp, name).as_value()))
        for eng, sel in ((ws, ~self.mode), (os_, self.mode)):
            m.d.comb += [eng.start.eq(self.start & sel), eng.m.eq(self.m), eng.n.eq(self.n), eng.k.eq(self.k),
                         eng.interleave.eq(self.interleave), eng.w_values.eq(self.w_values),
                         eng.w_index.eq(self.w_index), eng.a_lanes.eq(self.a_lanes)]
        m.d.comb += [ws.chunk.eq(self.chunk), os_.group.eq(self.group)]
        # the streams and the results: the running controller's
        with m.If(mode):
            m.d.comb += [os_.w_valid.eq(self.w_valid), os_.a_valid.eq(self.a_valid),
                         self.w_ready.eq(os_.w_ready), self.a_ready.eq(os_.a_ready),
                         self.done.eq(os_.done), self.stall.eq(os_.stall)]
            for c in range(self.cfg.cols):
                r = os_.result[c]
                m.d.comb += [self.result[c].valid.eq(r.valid), self.result[c].final.eq(1),
                             self.result[c].row.eq(r.row), self.result[c].col.eq(r.col),
                             self.result[c].value.eq(r.value)]
        with m.Else():
            m.d.comb += [ws.w_valid.eq(self.w_valid), ws.a_valid.eq(self.a_valid),
                         self.w_ready.eq(ws.w_ready), self.a_ready.eq(ws.a_ready),
                         self.done.eq(ws.done), self.stall.eq(ws.stall), self.result.eq(ws.result)]
        m.d.comb += self.busy.eq(ws.busy | os_.busy)
        return m
