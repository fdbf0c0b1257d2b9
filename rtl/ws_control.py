"""The weight-stationary tile-issue controller of the whole-GEMM engines (see
:mod:`.gemm_engine` for the schedule it keeps): the recurrence of ``dataflow.flows.stationary``
as hardware, built so that nothing wide sits between two registers on the issue path:

- every wait is counted down relative to the cycle it started (no absolute time, no wide
  comparator): ``run_left``, the cycles until the running tile's stream is over (``run_i``
  after its issue); ``end_left``, the cycles until the last issued tile's last accumulator write
  (an issue joins it a cycle late, ``issued`` holding ``finished`` back meanwhile);
- the accumulator hazard: a shift register of the column tiles issued in the last ``L - 1``
  cycles; a dependent tile waits while its column tile is among them (``S_dep + L``);
- the tile walk (:class:`TileOrder`) keeps each loop's tile size and last-tile flag in registers;
- ``issue`` itself is a register: the cycle before, every term of it is computed as it will be
  after the clock edge (the same decision, made one cycle early);
- the accumulator banks are read two cycles ahead into a register (block RAM's slow output
  ends at a register) with the two writes the read cannot see forwarded.
"""
from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from .engine_common import bits, delay
from .pe_array import WS_PORTS


class _Axis:
    """One loop of the tile walk: ``rem`` units left, the tile's ``size`` (min(rem, step)) and
    ``last`` (rem <= step), all three registers; every value they may take next is computed from
    registers, so the step itself is a multiplexer (nothing wide between an advance and a register)."""

    def __init__(self, width: int, step, total, name: str):
        self.step, self.total, self.mod = step, total, None
        self.rem, self.size, self.last = Signal(width, name=f"{name}_rem"), Signal(width, name=f"{name}_size"), \
            Signal(name=f"{name}_last")
        self.after = Signal(width, name=f"{name}_after")

    def build(self, mod: Module):
        self.mod = mod
        mod.d.comb += self.after.eq(self.rem - self.step)

    def begin(self, total=None, step=None):
        total = self.total if total is None else total
        step = self.step if step is None else step
        self.mod.d.sync += [self.rem.eq(total), self.size.eq(Mux(total < step, total, step)), self.last.eq(total <= step)]

    def next(self):
        after, step = self.after, self.step
        self.mod.d.sync += [self.rem.eq(after), self.size.eq(Mux(after < step, after, step)), self.last.eq(after <= step)]


class TileOrder(Elaboratable):
    """The tiles of a GEMM in issue order: ``restart`` begins at the first, ``advance`` steps.
    ``s``, ``kt``, ``xt`` (the tile's rows of A, executed rows and columns) and ``last_*`` are
    registers."""

    def __init__(self, R, C, dims, m, n, k, chunk, interleave, first):
        self.R, self.C, self.dims = R, C, dims
        self.first = first             # (m, n, k, chunk) to restart with: the ports, latched into m, n, k, chunk meanwhile
        self.m, self.n, self.k, self.chunk, self.interleave = m, n, k, chunk, interleave
        mb, nb, kb = dims
        self.restart, self.advance = Signal(), Signal()
        self.valid = Signal()
        self.c0, self.jz = Signal(mb), Signal()
        self.t, self.x0 = Signal(nb), Signal(nb)
        self.axes = _Axis(mb, chunk, m, "m"), _Axis(kb, R, k, "k"), _Axis(nb, C, n, "x")
        self.s, self.kt, self.xt = (a.size for a in self.axes)
        self.last_chunk, self.last_k, self.last_x = (a.last for a in self.axes)

    def elaborate(self, platform):
        mod = Module()
        C = self.C
        chunks, ks, xs = self.axes
        for axis in self.axes:
            axis.build(mod)

        def next_k():
            ks.next()
            mod.d.sync += self.jz.eq(0)

        def next_x():
            xs.next()
            mod.d.sync += [self.t.eq(self.t + 1), self.x0.eq(self.x0 + C)]

        def reset_k():
            ks.begin()
            mod.d.sync += self.jz.eq(1)

        def reset_x():
            xs.begin()
            mod.d.sync += [self.t.eq(0), self.x0.eq(0)]

        def next_chunk():
            with mod.If(chunks.last):
                mod.d.sync += self.valid.eq(0)
            with mod.Else():
                chunks.next()
                mod.d.sync += self.c0.eq(self.c0 + self.chunk)

        with mod.If(self.restart):
            m0, n0, k0, chunk0 = self.first
            chunks.begin(m0, chunk0)
            ks.begin(k0)
            xs.begin(n0)
            mod.d.sync += [self.valid.eq(1), self.c0.eq(0), self.jz.eq(1), self.t.eq(0), self.x0.eq(0)]
        def walk(inner, outer):
            """Step the inner loop; at its last tile restart it and step the outer one, then the chunk."""
            (inner_last, inner_next, inner_reset), (outer_last, outer_next, outer_reset) = inner, outer
            with mod.If(~inner_last):
                inner_next()
            with mod.Else():
                inner_reset()
                with mod.If(~outer_last):
                    outer_next()
                with mod.Else():
                    outer_reset()
                    next_chunk()

        columns, reduction = (xs.last, next_x, reset_x), (ks.last, next_k, reset_k)
        with mod.Elif(self.advance & self.valid):
            with mod.If(self.interleave):             # k-tile outer, column tile inner
                walk(columns, reduction)
            with mod.Else():                          # column tile outer, k-tile inner
                walk(reduction, columns)
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
                     first=(self.m, self.n, self.k, self.chunk))
        m.submodules.issue = I = TileOrder(**order)         # the next tile to issue
        m.submodules.load = P = TileOrder(**order)          # the tile loading, or the next to load
        ahead = Signal()                     # P is one tile past I: tile I's weights are loaded
        loading, pl_pos = Signal(), Signal(range(R + 1))
        run_left, end_left = Signal(range(self.longest + 1)), Signal(range(self.longest + 1))
        issued, tile_end = Signal(), Signal(range(self.longest + 1))     # the last cycle's issue, its end
        window = max(L - 1 - self.early, 0)  # cycles a dependent tile stays behind its predecessor's issue
        recent = [Signal(data.StructLayout({"valid": 1, "t": unsigned(tb)}), name=f"issued_{j}") for j in range(window)]

        with m.If(self.start):
            m.d.sync += [cfg_m.eq(self.m), cfg_n.eq(self.n), cfg_k.eq(self.k), cfg_chunk.eq(self.chunk),
                         cfg_il.eq(self.interleave), running.eq(1), ahead.eq(0), loading.eq(0),
                         pl_pos.eq(0), run_left.eq(0), end_left.eq(0), issued.eq(0)]
            m.d.sync += [r.valid.eq(0) for r in recent]
        m.d.comb += [I.restart.eq(self.start), P.restart.eq(self.start)]

        # tile issue: weights loaded, the previous tile's run over, the accumulator hazard cleared;
        # decided the cycle before (``issue`` is a register: see its next value below)
        run_ok = run_left == 0
        issue = Signal()
        m.d.comb += I.advance.eq(issue)
        run = Mux(cfg_il, I.s, I.s + (R - 2 + D) + I.xt)
        # the last issue's end joins end_left a cycle late (and holds finished back meanwhile)
        with m.If(~self.start):
            m.d.sync += run_left.eq(Mux(issue, run - 1, Mux(run_ok, 0, run_left - 1)))
            m.d.sync += [issued.eq(issue), tile_end.eq(I.s + I.xt + (R - 2 + L + D))]   # issue to last write
            later = Mux(end_left == 0, 0, end_left - 1)
            m.d.sync += end_left.eq(Mux(issued & (tile_end - 2 > later), tile_end - 2, later))
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
        ahead_next = Mux(self.start, 0, Mux(pl_last & ~issue, 1, Mux(issue & ~pl_last, 0, ahead)))
        m.d.sync += ahead.eq(ahead_next)

        # the next cycle's issue: every term as it will be after this cycle's edge. The hazard:
        # the next tile is blocked while its column tile is among the issues of the last L - 1
        # cycles (then: this cycle's issue and all but the oldest of ``recent``)
        def among(t, entries):
            hit = 0
            for r in entries:
                hit = hit | (r.valid & (r.t == t))
            return hit

        older = recent[:-1]
        if window:
            # after an issue the next tile is: interleave, the next column tile (same k-tile start:
            # jz kept) or the first of the next k-tile (dependent); one after another, the next
            # k-tile of the same column tile (dependent on the tile issuing now) or a new column
            # tile (jz); without an issue, the same tile
            dep_after_issue = Mux(cfg_il, Mux(~I.last_x, I.jz | ~among(I.t + 1, older),
                                              Mux(~I.last_k, ~((I.t == 0) | among(0, older)), 1)),
                                  Mux(~I.last_k, 0, 1))
            dep_next = Mux(issue, dep_after_issue, I.jz | ~among(I.t, older))
        else:
            dep_next = 1
        valid_next = I.valid & ~(issue & I.last_x & I.last_k & I.last_chunk)
        run_ok_next = Mux(issue, run == 1, run_left <= 1)
        with m.If(self.start):
            m.d.sync += issue.eq(0)
        with m.Else():
            m.d.sync += issue.eq(running & valid_next & ahead_next & run_ok_next & dep_next)
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
                if hasattr(array, "act_on"):
                    m.d.comb += array.act_on[r].eq(1)
        m.d.comb += array.sw.eq(issue)

        # accumulator: one bank per array column, address (column tile, row in chunk). Where the
        # array is deep enough (R + D >= 2) the bank is read two cycles ahead, without read-write
        # transparency, into a register (block RAM's slow output then ends at a register), and
        # the two writes the read cannot see (at its own edge and the next) are forwarded from
        # registers; else it is read a cycle ahead, transparent to its own write port. Either way
        # the adder sees every write up to the edge before, as the hazard S_dep + L assumes.
        ahead = R - 2 + D >= 0
        t_read = delay(m, cur, R - 2 + D, tag) if ahead else None
        t_ahead = delay(m, cur, R - 1 + D, tag)
        value = array.psum.shape().elem_shape
        for c in range(C):
            if c:
                t_ahead = delay(m, t_ahead, 1, tag)
                t_read = delay(m, t_read, 1, tag) if ahead else None
            tg = delay(m, t_ahead, 1, tag)
            bank = Memory(shape=value, depth=(1 << qb) * self.tx_max, init=[], attrs={"ram_style": "block"})
            m.submodules[f"acc_{c}"] = bank
            wr = bank.write_port()
            if ahead:
                rd = bank.read_port()
                read_at, next_at = Cat(t_read.q, t_read.t), Cat(t_ahead.q, t_ahead.t)
                m.d.comb += rd.addr.eq(read_at)
                read = delay(m, rd.data, 1, value)
                seen = [Signal(name=f"fwd{j}_{c}") for j in range(3)]     # a write the read missed, and its value
                kept = [Signal(value, name=f"fwd{j}_value_{c}") for j in range(3)]
                m.d.sync += [seen[0].eq(wr.en & (wr.addr == read_at)), kept[0].eq(wr.data),   # at the read's edge
                             seen[1].eq(seen[0]), kept[1].eq(kept[0]),
                             seen[2].eq(wr.en & (wr.addr == next_at)), kept[2].eq(wr.data)]   # at the next edge
                old = Mux(seen[2], kept[2], Mux(seen[1], kept[1], read))
            else:
                rd = bank.read_port(transparent_for=(wr,))
                m.d.comb += rd.addr.eq(Cat(t_ahead.q, t_ahead.t))
                old = rd.data
            addr = Cat(tg.q, tg.t)
            stage = data.StructLayout({"en": 1, "final": 1, "addr": len(addr), "row": unsigned(mb),
                                       "col": unsigned(nb), "value": value})
            s0 = Signal(stage)
            m.d.comb += [s0.en.eq(tg.valid & (tg.xt > c)), s0.final.eq(tg.final), s0.addr.eq(addr),
                         s0.row.eq(tg.c0 + tg.q), s0.col.eq(tg.x0 + c),
                         s0.value.eq(self.cfg.datapath.add(m, array.psum[c], Mux(tg.acc, old, 0)))]
            last = delay(m, s0, L - 1, stage)      # register stages after the add
            m.d.comb += [wr.addr.eq(last.addr), wr.data.eq(last.value), wr.en.eq(last.en)]
            o = self.result_next[c]
            m.d.comb += [o.keep.eq(last.en), o.final.eq(last.final), o.row.eq(last.row),
                         o.col.eq(last.col), o.value.eq(last.value)]

        m.d.comb += self.finished.eq(running & ~self.start & ~I.valid & ~issued & (end_left == 0))
        with m.If(self.finished):
            m.d.sync += running.eq(0)
        m.d.comb += [self.need_w.eq(inject), self.need_a.eq(streaming)]
        return m


__all__ = ["TileOrder", "WsController", "WS_PORTS"]
