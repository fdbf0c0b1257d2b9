"""The weight-stationary tile-issue controller of the whole-GEMM engines (see
:mod:`.gemm_engine` for the schedule it keeps): the recurrence of ``dataflow.flows.stationary``
as hardware, with every wait counted down relative to the cycle it started (no absolute time
and no wide comparator on the issue path):

- ``run_left``: cycles until the running tile's stream is over (``run_i`` after its issue);
- the accumulator hazard: a shift register of the column tiles issued in the last ``L - 1``
  cycles; a dependent tile waits while its column tile is among them (``S_dep + L``);
- ``end_left``: cycles until the last issued tile's last accumulator write.
"""
from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from .engine_common import bits, delay
from .pe_array import WS_PORTS


class TileOrder(Elaboratable):
    """The tiles of a GEMM in issue order: ``restart`` begins at the first, ``advance`` steps."""

    def __init__(self, R, C, dims, m, n, k, chunk, interleave, first):
        self.R, self.C = R, C
        self.first = first             # (m, n, k) to restart with: the ports, latched into m, n, k meanwhile
        self.m, self.n, self.k, self.chunk, self.interleave = m, n, k, chunk, interleave
        mb, nb, kb = dims
        self.restart, self.advance = Signal(), Signal()
        self.valid = Signal()
        self.c0, self.m_rem = Signal(mb), Signal(mb)
        self.kr, self.jz = Signal(kb), Signal()
        self.t, self.x0, self.xr = Signal(nb), Signal(nb), Signal(nb)
        self.s, self.kt, self.xt = Signal(mb), Signal(range(R + 1)), Signal(range(C + 1))
        self.last_k, self.last_x, self.last_chunk = Signal(), Signal(), Signal()

    def elaborate(self, platform):
        mod = Module()
        R, C = self.R, self.C
        mod.d.comb += [
            self.s.eq(Mux(self.m_rem < self.chunk, self.m_rem, self.chunk)),
            self.kt.eq(Mux(self.kr < R, self.kr, R)),
            self.xt.eq(Mux(self.xr < C, self.xr, C)),
            self.last_k.eq(self.kr <= R), self.last_x.eq(self.xr <= C),
            self.last_chunk.eq(self.m_rem <= self.chunk),
        ]

        def next_k():
            mod.d.sync += [self.kr.eq(self.kr - R), self.jz.eq(0)]

        def next_x():
            mod.d.sync += [self.t.eq(self.t + 1), self.x0.eq(self.x0 + C), self.xr.eq(self.xr - C)]

        def reset_k():
            mod.d.sync += [self.kr.eq(self.k), self.jz.eq(1)]

        def reset_x():
            mod.d.sync += [self.t.eq(0), self.x0.eq(0), self.xr.eq(self.n)]

        def next_chunk():
            with mod.If(self.last_chunk):
                mod.d.sync += self.valid.eq(0)
            with mod.Else():
                mod.d.sync += [self.c0.eq(self.c0 + self.chunk), self.m_rem.eq(self.m_rem - self.chunk)]

        with mod.If(self.restart):
            m0, n0, k0 = self.first
            mod.d.sync += [self.valid.eq(1), self.c0.eq(0), self.m_rem.eq(m0), self.kr.eq(k0), self.jz.eq(1),
                           self.t.eq(0), self.x0.eq(0), self.xr.eq(n0)]
        with mod.Elif(self.advance & self.valid):
            with mod.If(self.interleave):             # k-tile outer, column tile inner
                with mod.If(~self.last_x):
                    next_x()
                with mod.Else():
                    reset_x()
                    with mod.If(~self.last_k):
                        next_k()
                    with mod.Else():
                        reset_k()
                        next_chunk()
            with mod.Else():                          # column tile outer, k-tile inner
                with mod.If(~self.last_k):
                    next_k()
                with mod.Else():
                    reset_k()
                    with mod.If(~self.last_x):
                        next_x()
                    with mod.Else():
                        reset_x()
                        next_chunk()
        return mod


class WsController(Elaboratable):
    """Drives ``array`` (the PE array's weight-stationary ports, :data:`.pe_array.WS_PORTS`) from
    the weight rows ``w`` and rows of A ``a`` (payload views), with the GEMM given at ``start``.
    Outputs: ``need_w``/``need_a`` (a transfer is needed this cycle), ``running``, ``finished``
    (comb: the cycle that shows the last write, given the result register) and ``result_next``
    (comb: the accumulator writes of this cycle, one record per column, for the result register)."""

    def __init__(self, cfg, limits, array, result_layout, *, double_buffer: bool, early: int = 0):
        self.cfg, self.array, self.early, self.double_buffer = cfg, array, early, double_buffer
        self.max_m, self.max_n, self.max_k, self.max_chunk = limits
        R, C, L, D = cfg.rows, cfg.cols, cfg.acc_latency, cfg.mac_stages - 1
        self.tx_max = -(-self.max_n // C)
        self.start = Signal()
        self.m, self.n, self.k = Signal(range(self.max_m + 1)), Signal(range(self.max_n + 1)), Signal(range(self.max_k + 1))
        self.chunk, self.interleave = Signal(range(self.max_chunk + 1)), Signal()
        self.w_values = Signal(data.ArrayLayout(array.w_top.shape().elem_shape, C))
        self.w_index = Signal(data.ArrayLayout(array.idx_top.shape().elem_shape, C))
        self.a_lanes = Signal(array.act.shape())
        self.need_w, self.need_a, self.running, self.finished = Signal(), Signal(), Signal(), Signal()
        self.result_next = Signal(data.ArrayLayout(result_layout, C))
        self.longest = self.max_chunk + R + C + L + D      # the longest wait any counter holds

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C, L, D = cfg.rows, cfg.cols, cfg.acc_latency, cfg.mac_stages - 1
        mb, nb, kb = bits(self.max_m), bits(self.max_n), bits(self.max_k)
        qb = bits(self.max_chunk - 1)
        tb = bits(self.tx_max - 1)
        array = self.array

        cfg_m, cfg_n, cfg_k = Signal(mb), Signal(nb), Signal(kb)
        cfg_chunk, cfg_il = Signal(range(self.max_chunk + 1)), Signal()
        running = self.running
        order = dict(R=R, C=C, dims=(mb, nb, kb), m=cfg_m, n=cfg_n, k=cfg_k, chunk=cfg_chunk, interleave=cfg_il,
                     first=(self.m, self.n, self.k))
        m.submodules.issue = I = TileOrder(**order)         # the next tile to issue
        m.submodules.load = P = TileOrder(**order)          # the tile loading, or the next to load
        ahead = Signal()                     # P is one tile past I: tile I's weights are loaded
        loading, pl_pos = Signal(), Signal(range(R + 1))
        run_left, end_left = Signal(range(self.longest + 1)), Signal(range(self.longest + 1))
        window = max(L - 1 - self.early, 0)  # cycles a dependent tile stays behind its predecessor's issue
        recent = [Signal(data.StructLayout({"valid": 1, "t": unsigned(tb)}), name=f"issued_{j}") for j in range(window)]

        with m.If(self.start):
            m.d.sync += [cfg_m.eq(self.m), cfg_n.eq(self.n), cfg_k.eq(self.k), cfg_chunk.eq(self.chunk),
                         cfg_il.eq(self.interleave), running.eq(1), ahead.eq(0), loading.eq(0),
                         pl_pos.eq(0), run_left.eq(0), end_left.eq(0)]
            m.d.sync += [r.valid.eq(0) for r in recent]
        m.d.comb += [I.restart.eq(self.start), P.restart.eq(self.start)]

        # tile issue: weights loaded, the previous tile's run over, the accumulator hazard cleared
        run_ok = run_left == 0
        blocked = 0
        for r in recent:
            blocked = blocked | (r.valid & (r.t == I.t))
        dep_ok = I.jz | ~blocked
        issue = Signal()
        m.d.comb += issue.eq(running & I.valid & ahead & run_ok & dep_ok)
        m.d.comb += I.advance.eq(issue)
        run = Mux(cfg_il, I.s, I.s + (R - 2 + D) + I.xt)
        tile_end = I.s + I.xt + (R - 2 + L + D)            # from the issue to the tile's last write
        with m.If(~self.start):
            m.d.sync += run_left.eq(Mux(issue, run - 1, Mux(run_ok, 0, run_left - 1)))
            later = Mux(end_left == 0, 0, end_left - 1)
            m.d.sync += end_left.eq(Mux(issue & (tile_end - 1 > later), tile_end - 1, later))
            if recent:
                m.d.sync += [recent[0].valid.eq(issue), recent[0].t.eq(I.t)]
                m.d.sync += [recent[j].eq(recent[j - 1]) for j in range(1, len(recent))]

        # preload of tile P: into the shadow once tile P-1 has issued (or issues now); without a
        # double buffer, into the working registers once tile P-1's run is over
        if self.double_buffer:
            allowed = ~ahead | issue
        else:
            allowed = ~ahead & run_ok
        inject = Signal()
        pos = Mux(loading, pl_pos, 0)
        m.d.comb += inject.eq(running & P.valid & (loading | allowed))
        pl_last = inject & (pos == P.kt - 1)
        m.d.comb += P.advance.eq(pl_last)
        with m.If(inject):
            m.d.sync += [loading.eq(~pl_last), pl_pos.eq(pos + 1)]
        with m.If(pl_last & ~issue):
            m.d.sync += ahead.eq(1)
        with m.Elif(issue & ~pl_last):
            m.d.sync += ahead.eq(0)
        m.d.comb += [array.w_inj.eq(inject), array.w_pos.eq(pos),
                     array.w_top.eq(self.w_values), array.idx_top.eq(self.w_index)]

        # the stream: s rows of A from the issue cycle on, each tagged for the accumulator
        tag = data.StructLayout({"valid": 1, "acc": 1, "final": 1, "q": unsigned(qb), "t": unsigned(tb),
                                 "x0": unsigned(nb), "xt": range(C + 1), "c0": unsigned(mb)})
        st_active, st_q = Signal(), Signal(range(self.max_chunk + 1))
        held = Signal(tag)
        held_s, held_kt = Signal(range(self.max_chunk + 1)), Signal(range(R + 1))
        cur = Signal(tag)
        cur_kt = Signal(range(R + 1))
        streaming = Signal()
        m.d.comb += streaming.eq(issue | st_active)
        with m.If(issue):
            m.d.comb += [cur.valid.eq(1), cur.acc.eq(~I.jz), cur.final.eq(I.last_k), cur.q.eq(0),
                         cur.t.eq(I.t), cur.x0.eq(I.x0), cur.xt.eq(I.xt), cur.c0.eq(I.c0), cur_kt.eq(I.kt)]
            m.d.sync += [held.eq(cur), held_s.eq(I.s), held_kt.eq(I.kt), st_active.eq(I.s > 1), st_q.eq(1)]
        with m.Elif(st_active):
            m.d.comb += [cur.eq(held), cur.q.eq(st_q), cur_kt.eq(held_kt)]
            m.d.sync += st_q.eq(st_q + 1)
            with m.If(st_q + 1 == held_s):
                m.d.sync += st_active.eq(0)
        for r in range(R):
            with m.If(streaming & (r < cur_kt)):
                m.d.comb += array.act[r].eq(self.a_lanes[r])
        m.d.comb += array.sw.eq(issue)

        # accumulator: one bank per array column, address (column tile, row in chunk); the bank is
        # read a cycle ahead (synchronous, transparent to its own write port, so block RAM fits):
        # the row's tag is known a cycle before its partial sum leaves the bottom row
        t_ahead = delay(m, cur, R - 1 + D, tag)
        for c in range(C):
            if c:
                t_ahead = delay(m, t_ahead, 1, tag)
            tg = delay(m, t_ahead, 1, tag)
            bank = Memory(shape=array.psum.shape().elem_shape, depth=(1 << qb) * self.tx_max, init=[],
                          attrs={"ram_style": "block"})
            m.submodules[f"acc_{c}"] = bank
            wr = bank.write_port()
            rd = bank.read_port(transparent_for=(wr,))
            m.d.comb += rd.addr.eq(Cat(t_ahead.q, t_ahead.t))
            addr = Cat(tg.q, tg.t)
            stage = data.StructLayout({"en": 1, "final": 1, "addr": len(addr), "row": unsigned(mb),
                                       "col": unsigned(nb), "value": array.psum.shape().elem_shape})
            s0 = Signal(stage)
            m.d.comb += [s0.en.eq(tg.valid & (tg.xt > c)), s0.final.eq(tg.final), s0.addr.eq(addr),
                         s0.row.eq(tg.c0 + tg.q), s0.col.eq(tg.x0 + c),
                         s0.value.eq(array.psum[c] + Mux(tg.acc, rd.data, 0))]
            last = delay(m, s0, L - 1, stage)      # register stages after the add
            m.d.comb += [wr.addr.eq(last.addr), wr.data.eq(last.value), wr.en.eq(last.en)]
            o = self.result_next[c]
            m.d.comb += [o.keep.eq(last.en), o.final.eq(last.final), o.row.eq(last.row),
                         o.col.eq(last.col), o.value.eq(last.value)]

        m.d.comb += self.finished.eq(running & ~self.start & ~I.valid & (end_left == 0))
        with m.If(self.finished):
            m.d.sync += running.eq(0)
        m.d.comb += [self.need_w.eq(inject), self.need_a.eq(streaming)]
        return m


__all__ = ["TileOrder", "WsController", "WS_PORTS"]
