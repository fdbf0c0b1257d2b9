"""The output-stationary controller of the whole-GEMM engines (see :mod:`.os_gemm_engine` for the
schedule it keeps): group issue, the drain of each group's shadows and the walk of the results."""
from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import data

from .engine_common import bits, delay
from .pe_array import OS_PORTS


class OsController(Elaboratable):
    """Drives ``array`` (the PE array's output-stationary ports, :data:`.pe_array.OS_PORTS`) from
    the A lanes ``a_lanes`` and B rows ``w_values``/``w_index``, one of each per issue. Outputs as
    :class:`.ws_control.WsController`'s: ``need_w``/``need_a``, ``running``, ``finished`` and
    ``result_next``."""

    def __init__(self, cfg, limits, array, result_layout, groups: int):
        self.cfg, self.array, self.G = cfg, array, groups
        self.max_m, self.max_n, self.max_k = limits
        R, C, L, G, D = cfg.rows, cfg.cols, cfg.acc_latency, groups, cfg.mac_stages - 1
        tiles = -(-self.max_m // R) * -(-self.max_n // C)
        self.time_bits = bits(tiles * (self.max_k * max(G, L) + G * R + R + C + L + D) + 2 * (R + C + L + D))
        self.start = Signal()
        self.m, self.n, self.k = Signal(range(self.max_m + 1)), Signal(range(self.max_n + 1)), Signal(range(self.max_k + 1))
        self.group, self.interleave = Signal(range(G + 1)), Signal()
        self.w_values = Signal(data.ArrayLayout(array.w_top.shape().elem_shape, C))
        self.w_index = Signal(data.ArrayLayout(array.idx_top.shape().elem_shape, C))
        self.a_lanes = Signal(array.act.shape())
        self.need_w, self.need_a, self.running, self.finished = Signal(), Signal(), Signal(), Signal()
        self.result_next = Signal(data.ArrayLayout(result_layout, C))

    def elaborate(self, platform):
        m = Module()
        cfg, array = self.cfg, self.array
        R, C, L, G, D = cfg.rows, cfg.cols, cfg.acc_latency, self.G, cfg.mac_stages - 1
        mb, nb, kb, T = bits(self.max_m), bits(self.max_n), bits(self.max_k), self.time_bits
        tb = bits(-(-self.max_m // R) * -(-self.max_n // C))

        cm, cn, ck = Signal(mb), Signal(nb), Signal(kb)
        cg, il = Signal(range(G + 1)), Signal()
        running, now = self.running, Signal(T)
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

        # the next group: its size and issue length, and whether it may start; its sums are in
        # PE (0, 0) L + D cycles after each issue (the MAC pipeline, then the adder)
        lag = L + D
        g_new = Mux(tiles_rem < cg, tiles_rem, cg)
        p_new = Mux(g_new > L, g_new, L)
        # its issue length (k - 1) P + g, registered off the issue path: it lags tiles_rem by a
        # cycle, which only a group of one issue (k = 1, where it is g) could see, as the next
        # group starts at least I >= 2 cycles after a group that issues more
        i_reg = Signal(range(self.max_k * max(G, L) + G + 1))
        m.d.sync += i_reg.eq((ck - 1) * p_new + g_new)
        i_new = Mux(ck == 1, g_new, i_reg)
        allowed = ~have_prev | Mux(il, now + lag + i_new >= next_at, now >= next_at)
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
            if hasattr(array, "act_on"):
                m.d.comb += array.act_on.eq(-1)
        m.d.comb += [array.w_top.eq(self.w_values), array.idx_top.eq(self.w_index)]

        # the group's drain: readout start w, the last result, and when the next group may issue.
        # A group's last issue can come before the readout of an earlier one starts (short groups,
        # drain-bound, or a lag above the issue length): the drains wait in a queue, oldest first
        # (``pend[0]``). Entries wait from a last issue t to their w > t; the issue condition
        # below gives t_j >= w_{j-1} + 1 - lag and every drain takes >= R cycles, so at most
        # 1 + ceil((lag - 1) / R) wait at once
        rec = data.StructLayout({"valid": 1, "m0": unsigned(mb), "n0": unsigned(nb), "gg": range(G + 1),
                                 "w": unsigned(T + 1)})
        depth = 1 + -(-(lag - 1) // R)
        pend = [Signal(rec, name=f"pending_{i}") for i in range(depth)]
        pending = pend[0]
        mt_all, nt_all = Mux(cm < R, cm, R), Mux(cn < C, cn, C)
        mt_one, nt_one = Mux(cm - base_m < R, cm - base_m, R), Mux(cn - base_n < C, cn - base_n, C)
        mt, nt = Mux(il, mt_all, mt_one), Mux(il, nt_all, nt_one)
        x0 = now + lag
        w = Signal(T + 1)
        m.d.comb += w.eq(Mux(x0 + mt - 1 > wfree, x0 + mt - 1, wfree))
        new = Signal(rec)
        m.d.comb += [new.valid.eq(1), new.m0.eq(base_m), new.n0.eq(base_n), new.gg.eq(e_gg), new.w.eq(w)]
        with m.If(last):
            drain = e_gg * R
            m.d.sync += [wfree.eq(w + drain), end_at.eq(w + nt - 1 + drain), have_prev.eq(1),
                         next_at.eq(Mux(il, w + mt_all * (e_gg - 1) + 2, w + nt - 1 + drain))]

        # the readout walker: column 0's (row, slot) each cycle; column c sees it c cycles later
        wk_active, wk_r, wk_j = Signal(), Signal(range(max(R, 2))), Signal(range(max(G, 2)))
        wk_gg = Signal(range(G + 1))
        wk_bm, wk_bn, wk_cm, wk_cn = Signal(mb), Signal(nb), Signal(mb), Signal(nb)
        launch = Signal()
        m.d.comb += launch.eq(pending.valid & ~wk_active & (now >= pending.w))
        kept = [Signal(rec, name=f"kept_{i}") for i in range(depth)]     # the queue after this launch
        for i in range(depth):
            m.d.comb += kept[i].eq(Mux(launch, pend[i + 1] if i + 1 < depth else 0, pend[i]))
            first_free = ~kept[i].valid & (kept[i - 1].valid if i else 1)
            m.d.sync += pend[i].eq(Mux(last & first_free, new, kept[i]))
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
        rd = data.StructLayout({"valid": 1, "r": range(max(R, 2)), "j": range(max(G, 2)),
                                "row": unsigned(bits(self.max_m + R)), "col": unsigned(bits(self.max_n + C))})
        tag = Signal(rd)
        m.d.comb += [tag.valid.eq(emit), tag.r.eq(e_r), tag.j.eq(e_j), tag.row.eq(e_cm + e_r), tag.col.eq(e_cn)]
        for c in range(C):
            if c:
                tag = delay(m, tag, 1, rd)
            m.d.comb += [array.rd_row[c].eq(tag.r), array.rd_slot[c].eq(tag.j)]
            o = self.result_next[c]
            m.d.comb += [o.keep.eq(tag.valid & (tag.row < cm) & (tag.col + c < cn)), o.final.eq(1),
                         o.row.eq(tag.row), o.col.eq(tag.col + c), o.value.eq(array.shadow_out[c])]

        m.d.comb += self.finished.eq(running & ~self.start & have_prev & (tiles_rem == 0) & ~in_group
                                     & (now >= end_at))
        with m.If(self.finished):
            m.d.sync += running.eq(0)
        m.d.comb += [self.need_w.eq(issue), self.need_a.eq(issue)]
        return m


__all__ = ["OsController", "OS_PORTS"]
