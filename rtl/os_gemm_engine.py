"""An output-stationary engine that runs a whole GEMM, tile by tile, as ``dataflow.flows.output_stationary`` times it.

``C[m x n] = A[m x k] B[k x n]`` with B N:M-compressed (``k`` executed rows: kept values and their
in-group indices). C is cut into output tiles of up to R rows of m by C columns of n, walked with
the rows of A outermost (m-tile outer, n-tile inner). Every PE keeps ``max_group`` accumulators
and as many shadow registers; its adder has a latency of ``L = cfg.acc_latency`` cycles (the sum
of an issue at cycle t is in the accumulator at t + L).

Issue (the step stream): one *step* is a k-row of one tile: for array row r the M activations of
A row ``m0 + r`` of the group of kept slot s (``a_lanes``, zeros past the edge), for array column
c the kept value and index of B row s, column ``n0 + c`` (``w_values``/``w_index``). A step
enters the array's top-left PE and travels with the systolic skew: PE (r, c) takes it r + c
cycles later, its A lanes from the left and its B value from the top, and its M:1 multiplexer
picks the activation of its kept weight. Tiles run in groups of ``g`` (``group``, default the
model's L, the last group the remainder; interleave off: ``g = 1``): step s of slot j of a group
issues at ``S + s P + j`` with ``P = max(g, L)``, so each accumulator sees a dependent MAC every
P >= L cycles and a group takes ``I = (k - 1) P + g`` cycles. With the group's last issue each PE
copies its accumulators into its shadows at the edge its last sum is written (the copy travels
with the skew, so the next group, issuing from the next cycle on, overwrites nothing unread).

Drain: the shadows of column c are read out through an R g : 1 multiplexer into the registered
``result[c]``, one per cycle, row 0 first, slot by slot (``g R`` cycles), column c starting c
cycles after column 0. Group i's readout of column 0 starts at ``w_i = max(X_i + mt - 1, w_{i-1}
+ g_{i-1} R)`` with ``X_i = S_i + I_i - 1 + L`` (its sums complete in PE (0, 0)) and mt the rows
of the first tile (interleave off: of the tile itself); its last result shows at ``w_i + nt - 1 +
g_i R``. Interleave on, group i+1 issues from the cycle after group i's last issue unless its own
copy would reach a PE before that PE's shadows have been read (``X_{i+1} >= w_i + mt (g_i - 1) +
1``); this never moves a drain (whenever it delays an issue, the drain is the bottleneck), so the
last result is exactly the model's two-stage flow shop ``skew + path + L - 1``. Interleave off,
the next tile issues in the cycle its predecessor's last result shows: ``k L + skew + R`` a tile.

Ports: ``start`` (one cycle, with ``m``, ``n``, ``k``, ``group`` in 1..max_group, ``interleave``)
begins a GEMM, whose first issue is the next cycle; ``a_*`` and ``w_*`` are valid/ready streams,
one item each per issue, in issue order. A missing transfer stalls the whole engine for the
cycle (``stall``), which adds exactly the stalled cycles. ``result[c]`` shows output ``row``,
``col``, ``value`` (``valid``); ``done`` is high in the cycle that shows the last result.
"""
from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import bits, delay, result_layout, stall_on_streams


class MultiAccumulatorArray(wiring.Component):
    """R x C output-stationary PEs with ``G`` accumulators and ``G`` shadows each. A step enters
    at the top-left with its tag (``valid``, ``first``: start the slot's sum, ``slot``, ``last``:
    copy to the shadows once written) and reaches PE (r, c) r + c cycles later; the sum is
    written L cycles after that. ``rd_row``/``rd_slot`` select, per column, the shadow that
    ``shadow_out[c]`` shows (combinationally)."""

    def __init__(self, cfg: RtlConfig, groups: int):
        self.cfg, self.G = cfg, groups
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        slot = range(max(groups, 2))               # (never zero bits wide: lint)
        self.tag_layout = data.StructLayout({"valid": 1, "first": 1, "last": 1, "slot": slot})
        super().__init__({
            "tag": In(self.tag_layout),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
            "w_top": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "rd_row": In(data.ArrayLayout(range(max(cfg.rows, 2)), cfg.cols)),
            "rd_slot": In(data.ArrayLayout(slot, cfg.cols)),
            "shadow_out": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, G = self.cfg, self.G
        R, C, L = cfg.rows, cfg.cols, cfg.acc_latency
        wshape, ishape, ashape = signed(cfg.op_bits), unsigned(cfg.index_bits), signed(cfg.acc_bits)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        diag = [self.tag]                              # the tag of PE (r, c) is diag[r + c]
        for _ in range(R + C - 2):
            diag.append(delay(m, diag[-1], 1, self.tag_layout))
        weight = [[None] * C for _ in range(R)]
        index = [[None] * C for _ in range(R)]
        for c in range(C):                             # B enters column c after c cycles, moves down
            w, i = delay(m, self.w_top[c], c, wshape), delay(m, self.idx_top[c], c, ishape)
            for r in range(R):
                weight[r][c], index[r][c] = w, i
                if r + 1 < R:
                    w, i = delay(m, w, 1, wshape), delay(m, i, 1, ishape)
        shadows = [[Array(Signal(ashape, name=f"sh_{r}_{c}_{j}") for j in range(G)) for c in range(C)]
                   for r in range(R)]
        wb = data.StructLayout({"en": 1, "last": 1, "slot": range(max(G, 2)), "value": ashape})
        for r in range(R):
            act = delay(m, self.act[r], r, lanes)      # A enters row r after r cycles, moves right
            for c in range(C):
                tag = diag[r + c]
                acc = Array(Signal(ashape, name=f"acc_{r}_{c}_{j}") for j in range(G))
                s0 = Signal(wb, name=f"sum_{r}_{c}")
                m.d.comb += [s0.en.eq(tag.valid), s0.last.eq(tag.valid & tag.last), s0.slot.eq(tag.slot),
                             s0.value.eq(Mux(tag.first, 0, acc[tag.slot]) + weight[r][c] * act[index[r][c]])]
                out = delay(m, s0, L - 1, wb)          # the adder's pipeline: written at the L-th edge
                for j in range(G):
                    nxt = Mux(out.en & (out.slot == j), out.value, acc[j])
                    m.d.sync += acc[j].eq(nxt)
                    with m.If(out.last):
                        m.d.sync += shadows[r][c][j].eq(nxt)
                if c + 1 < C:
                    act = delay(m, act, 1, lanes)
        for c in range(C):
            rows = Array(shadows[r][c][self.rd_slot[c]] for r in range(R))
            m.d.comb += self.shadow_out[c].eq(rows[self.rd_row[c]])
        return m


class OutputStationaryGemmEngine(wiring.Component):
    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_group: int | None = None, *, array=None):
        if cfg.acc_latency < 1:
            raise ValueError("the accumulator needs at least one cycle (acc_latency >= 1)")
        self.cfg = cfg
        self.max_m, self.max_n, self.max_k = max_m, max_n, max_k
        self.max_group = max_group or max(1, cfg.acc_latency)
        self.array = array           # the array's ports to drive instead of a private array (flex_gemm_engine)
        R, C, L, G = cfg.rows, cfg.cols, cfg.acc_latency, self.max_group
        tiles = -(-max_m // R) * -(-max_n // C)
        self.time_bits = bits(tiles * (max_k * max(G, L) + G * R + R + C + L) + 2 * (R + C + L))
        self.result_layout = result_layout(max_m, max_n, cfg.acc_bits, final=False)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "start": In(1),
            "m": In(range(max_m + 1)), "n": In(range(max_n + 1)), "k": In(range(max_k + 1)),
            "group": In(range(G + 1)), "interleave": In(1),
            "busy": Out(1), "done": Out(1), "stall": Out(1),
            "a_valid": In(1), "a_ready": Out(1),
            "a_lanes": In(data.ArrayLayout(lanes, R)),
            "w_valid": In(1), "w_ready": Out(1),
            "w_values": In(data.ArrayLayout(signed(cfg.op_bits), C)),
            "w_index": In(data.ArrayLayout(unsigned(cfg.index_bits), C)),
            "result": Out(data.ArrayLayout(self.result_layout, C)),
        })

    def elaborate(self, platform):
        outer, m = Module(), Module()                 # every register in m waits while a stream stalls
        cfg = self.cfg
        R, C, L, G = cfg.rows, cfg.cols, cfg.acc_latency, self.max_group
        mb, nb, kb, T = bits(self.max_m), bits(self.max_n), bits(self.max_k), self.time_bits
        tb = bits(-(-self.max_m // R) * -(-self.max_n // C))
        if self.array is None:
            m.submodules.array = array = MultiAccumulatorArray(cfg, G)
        else:
            array = self.array

        cm, cn, ck = Signal(mb), Signal(nb), Signal(kb)
        cg, il = Signal(range(G + 1)), Signal()
        running, now = Signal(), Signal(T)
        tiles_rem = Signal(tb)
        base_m, base_n = Signal(mb), Signal(nb)       # the group's first tile (the next group's between groups)
        cur_m, cur_n = Signal(mb), Signal(nb)         # the tile of the slot issuing next
        in_group, s, phase = Signal(), Signal(kb), Signal(range(max(G, L) + 1))
        gg = Signal(range(G + 1))
        have_prev, next_at, end_at, wfree = Signal(), Signal(T + 1), Signal(T + 1), Signal(T + 1)

        with m.If(self.start):
            tm = (self.m + (R - 1)) // R
            tn = (self.n + (C - 1)) // C
            m.d.sync += [cm.eq(self.m), cn.eq(self.n), ck.eq(self.k), il.eq(self.interleave),
                         cg.eq(Mux(self.interleave, self.group, 1)), running.eq(1), now.eq(0),
                         tiles_rem.eq(tm * tn), base_m.eq(0), base_n.eq(0), cur_m.eq(0), cur_n.eq(0),
                         in_group.eq(0), have_prev.eq(0), wfree.eq(0), end_at.eq(0), next_at.eq(0)]
        with m.Elif(running):
            m.d.sync += now.eq(now + 1)

        # the next group: its size and issue length, and whether it may start
        g_new = Mux(tiles_rem < cg, tiles_rem, cg)
        p_new = Mux(g_new > L, g_new, L)
        i_new = (ck - 1) * p_new + g_new
        allowed = ~have_prev | Mux(il, now + L + i_new >= next_at, now >= next_at)
        gstart = Signal()
        m.d.comb += gstart.eq(running & ~in_group & (tiles_rem != 0) & allowed)
        e_gg = Mux(gstart, g_new, gg)
        e_p = Mux(e_gg > L, e_gg, L)
        e_phase, e_s = Mux(gstart, 0, phase), Mux(gstart, 0, s)
        active = gstart | in_group
        issue, last = Signal(), Signal()
        m.d.comb += [issue.eq(active & (e_phase < e_gg)), last.eq(issue & (e_s == ck - 1) & (e_phase == e_gg - 1))]

        def step(tm_, tn_):
            """The tile after (tm_, tn_) in the walk: the next column tile, else the next row tile."""
            return Mux(tn_ + C < cn, tm_, tm_ + R), Mux(tn_ + C < cn, tn_ + C, 0)

        with m.If(gstart):
            m.d.sync += [gg.eq(g_new), tiles_rem.eq(tiles_rem - g_new)]
        with m.If(active):
            m.d.sync += in_group.eq(~last)
            with m.If(e_phase == e_p - 1):
                m.d.sync += [phase.eq(0), s.eq(e_s + 1)]
            with m.Else():
                m.d.sync += [phase.eq(e_phase + 1), s.eq(e_s)]
        nm_, nn_ = step(cur_m, cur_n)
        with m.If(issue):
            with m.If(last):
                m.d.sync += [base_m.eq(nm_), base_n.eq(nn_), cur_m.eq(nm_), cur_n.eq(nn_)]
            with m.Elif(e_phase == e_gg - 1):
                m.d.sync += [cur_m.eq(base_m), cur_n.eq(base_n)]
            with m.Else():
                m.d.sync += [cur_m.eq(nm_), cur_n.eq(nn_)]
        m.d.comb += [array.tag.valid.eq(issue), array.tag.first.eq(e_s == 0), array.tag.last.eq(last),
                     array.tag.slot.eq(e_phase)]
        with m.If(issue):
            m.d.comb += array.act.eq(self.a_lanes)
        m.d.comb += [array.w_top.eq(self.w_values), array.idx_top.eq(self.w_index)]

        # the group's drain: readout start w, the last result, and when the next group may issue
        rec = data.StructLayout({"valid": 1, "m0": unsigned(mb), "n0": unsigned(nb), "gg": range(G + 1),
                                 "w": unsigned(T + 1)})
        pending = Signal(rec)
        mt_all, nt_all = Mux(cm < R, cm, R), Mux(cn < C, cn, C)
        mt_one, nt_one = Mux(cm - base_m < R, cm - base_m, R), Mux(cn - base_n < C, cn - base_n, C)
        mt, nt = Mux(il, mt_all, mt_one), Mux(il, nt_all, nt_one)
        x0 = now + L
        w = Signal(T + 1)
        m.d.comb += w.eq(Mux(x0 + mt - 1 > wfree, x0 + mt - 1, wfree))
        with m.If(last):
            drain = e_gg * R
            m.d.sync += [pending.valid.eq(1), pending.m0.eq(base_m), pending.n0.eq(base_n),
                         pending.gg.eq(e_gg), pending.w.eq(w), wfree.eq(w + drain),
                         end_at.eq(w + nt - 1 + drain), have_prev.eq(1),
                         next_at.eq(Mux(il, w + mt_all * (e_gg - 1) + 2, w + nt - 1 + drain))]

        # the readout walker: column 0's (row, slot) each cycle; column c sees it c cycles later
        wk_active, wk_r, wk_j = Signal(), Signal(range(max(R, 2))), Signal(range(max(G, 2)))
        wk_gg = Signal(range(G + 1))
        wk_bm, wk_bn, wk_cm, wk_cn = Signal(mb), Signal(nb), Signal(mb), Signal(nb)
        launch = Signal()
        m.d.comb += launch.eq(pending.valid & ~wk_active & (now >= pending.w))
        with m.If(launch):
            m.d.sync += pending.valid.eq(0)
        e_r, e_j = Mux(launch, 0, wk_r), Mux(launch, 0, wk_j)
        e_wgg = Mux(launch, pending.gg, wk_gg)
        e_bm, e_bn = Mux(launch, pending.m0, wk_bm), Mux(launch, pending.n0, wk_bn)
        e_cm, e_cn = Mux(launch, pending.m0, wk_cm), Mux(launch, pending.n0, wk_cn)
        emit = launch | wk_active
        with m.If(emit):
            sm, sn = step(e_cm, e_cn)
            end_row = e_j == e_wgg - 1
            m.d.sync += [wk_active.eq(~(end_row & (e_r == R - 1))), wk_gg.eq(e_wgg), wk_bm.eq(e_bm), wk_bn.eq(e_bn),
                         wk_r.eq(Mux(end_row, e_r + 1, e_r)), wk_j.eq(Mux(end_row, 0, e_j + 1)),
                         wk_cm.eq(Mux(end_row, e_bm, sm)), wk_cn.eq(Mux(end_row, e_bn, sn))]
        rd = data.StructLayout({"valid": 1, "r": range(max(R, 2)), "j": range(max(G, 2)), "row": unsigned(bits(self.max_m + R)),
                                "col": unsigned(bits(self.max_n + C))})
        tag = Signal(rd)
        m.d.comb += [tag.valid.eq(emit), tag.r.eq(e_r), tag.j.eq(e_j), tag.row.eq(e_cm + e_r), tag.col.eq(e_cn)]
        out_regs = Signal(data.ArrayLayout(self.result_layout, C))
        for c in range(C):
            if c:
                tag = delay(m, tag, 1, rd)
            m.d.comb += [array.rd_row[c].eq(tag.r), array.rd_slot[c].eq(tag.j)]
            o = out_regs[c]
            m.d.sync += [o.valid.eq(tag.valid & (tag.row < cm) & (tag.col + c < cn)), o.row.eq(tag.row),
                         o.col.eq(tag.col + c), o.value.eq(array.shadow_out[c])]

        finished = running & ~self.start & have_prev & (tiles_rem == 0) & ~in_group & (now >= end_at)
        with m.If(finished):
            m.d.sync += running.eq(0)

        en, fresh = stall_on_streams(outer, m, [(issue, self.a_valid, self.a_ready),
                                                (issue, self.w_valid, self.w_ready)])
        outer.d.comb += [self.busy.eq(running), self.done.eq(finished & fresh), self.stall.eq(~en)]
        for c in range(C):
            outer.d.comb += [self.result[c].eq(out_regs[c]), self.result[c].valid.eq(out_regs[c].valid & fresh)]
        return outer
