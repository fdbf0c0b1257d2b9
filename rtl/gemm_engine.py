"""A weight-stationary engine that runs a whole GEMM, tile by tile, as ``dataflow.flows.stationary`` times it.

``C[m x n] = A[m x k] B[k x n]`` with B N:M-compressed (``k`` executed rows: kept values and their
in-group indices, as :class:`~.arrays.WeightStationaryArray` uses them). B is cut into weight
tiles of ``kt <= R`` rows by ``xt <= C`` columns (``tk`` k-tiles x ``tx`` column tiles); the
rows of A stream in chunks of ``chunk`` rows, and every chunk visits every weight tile, in the
order (k-tile outer, column tile inner) when ``interleave`` is set, else (column tile outer,
k-tile inner). Partial sums leave the array's bottom row into an accumulator buffer (one bank per
array column, ``chunk x n`` partial sums in all) through an adder pipeline of ``L =
cfg.acc_latency`` cycles, which adds each k-tile's partial sums to the previous k-tile's.

The tile-issue controller is the recurrence of ``dataflow.flows.stationary`` (``S_i``: the cycle
tile i's first row of A enters; cycle 0 is the first preload cycle):

- preload: a tile of kt rows takes kt cycles, one weight row per cycle (the tile's lowest row
  first), shifted in from the top with the stream's column skew: column c sees a preload row c
  cycles after column 0, and row r of a column only shifts once the tile's r-th row has reached
  it (so the rows below keep the weights in use until the tile's data has passed them).
  With ``cfg.weight_double_buffer`` the rows shift into shadow registers from ``S_i`` on, and
  every PE swaps when the next tile's first row of A reaches it (a flag that travels with the
  data skew); without it they shift into the working registers from ``S_i + run_i``.
- tile i+1 issues when its weights are loaded, when ``run_i`` cycles have passed since ``S_i``
  (``s_i`` with interleave; ``s_i + R + xt_i - 2``, the array drained, without), and when the
  previous k-tile of its column tile (same chunk) started at least L cycles ago:
  ``S_{i+1} = max(S_i + max(run_i, p_{i+1}) or S_i + run_i + p_{i+1}, S_dep + L)``.
- the partial sum of row q, column c of tile i leaves the bottom row at cycle ``S_i + q + R + c``,
  is added to the buffer's value (read at the clock edge before, transparently: a write at that
  same edge is seen) and written L clock edges later (L - 1 registers after the adder, then the
  buffer's write); tile i's last write is at edge ``S_i + s_i + xt_i + R - 2 + L``, the model's
  end, and a dependent tile issued at ``S_dep + L`` reads exactly what its predecessor wrote.

Ports: ``start`` (one cycle, with ``m``, ``n``, ``k``, ``chunk`` in 1..max_chunk, ``interleave``)
begins a GEMM, whose first preload cycle is the next one. ``w_*`` is a valid/ready stream of weight
rows (C values and indices, padded), the tiles in issue order, each tile's rows from its row kt-1
down to 0; ``a_*`` is a valid/ready stream of rows of A as R lane vectors (array row r: the M
activations of the group of the tile's kept-weight slot r; rows r >= kt are ignored), per tile its
chunk's rows in order. The engine takes a transfer only while valid: a missing one stalls the whole
engine for that cycle (the array cannot stall on its own, so every register waits), which keeps the
results exact and adds exactly the stalled cycles (``stall`` flags them). ``result[c]`` shows each accumulator write of
array column c the cycle after it happens (``valid``, ``final`` for the last k-tile, output ``row``
and ``col``, ``value``); ``done`` is high in the cycle that shows the GEMM's last write.

Test-only knobs: ``shadow=False`` builds the array without shadow registers while the controller
still schedules as double-buffered; ``early=e`` lets a dependent tile issue e cycles before its
accumulator hazard allows. Both corrupt results (the tests show it).
"""
from __future__ import annotations

from amaranth import Array, Cat, Elaboratable, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import bits as _bits, delay as _delay, result_layout, stall_on_streams


class DoubleBufferedArray(wiring.Component):
    """R x C weight-stationary PE array whose weight rows shift in with the stream's column skew
    (``w_inj`` with ``w_pos``, the row's position in its tile: row r of column c shifts when
    ``w_pos >= r`` reaches column c), into shadow registers if ``shadow`` (every PE takes its
    shadow weight when ``sw``, the first row of a tile, reaches it) or straight into the working
    ones. ``psum[c]`` is the bottom row's partial sum register of column c: the partial sum of a
    row of A that entered at cycle t is there at cycle t + R + c."""

    def __init__(self, cfg: RtlConfig, shadow: bool):
        self.cfg, self.shadow = cfg, shadow
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "w_inj": In(1),
            "w_pos": In(range(cfg.rows)),
            "w_top": In(data.ArrayLayout(signed(cfg.op_bits), cfg.cols)),
            "idx_top": In(data.ArrayLayout(unsigned(cfg.index_bits), cfg.cols)),
            "act": In(data.ArrayLayout(lanes, cfg.rows)),
            "sw": In(1),
            "psum": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        wshape, ishape = signed(cfg.op_bits), unsigned(cfg.index_bits)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        load_w = [[Signal(wshape, name=f"{'sh' if self.shadow else 'w'}_{r}_{c}") for c in range(C)] for r in range(R)]
        load_i = [[Signal(ishape, name=f"{'shi' if self.shadow else 'idx'}_{r}_{c}") for c in range(C)] for r in range(R)]
        psum = [[Signal(signed(cfg.acc_bits), name=f"psum_{r}_{c}") for c in range(C)] for r in range(R)]
        inj, pos = self.w_inj, self.w_pos
        for c in range(C):                         # the preload, skewed one cycle per column
            if c:
                inj, pos = _delay(m, inj, 1, 1), _delay(m, pos, 1, range(R))
            w_in = _delay(m, self.w_top[c], c, wshape)
            i_in = _delay(m, self.idx_top[c], c, ishape)
            for r in range(R):
                with m.If(inj & (pos >= r) if r else inj):      # (pos >= 0 is constant: lint)
                    m.d.sync += [load_w[r][c].eq(w_in if r == 0 else load_w[r - 1][c]),
                                 load_i[r][c].eq(i_in if r == 0 else load_i[r - 1][c])]
        sw_row = self.sw
        for r in range(R):
            act = _delay(m, self.act[r], r, lanes)
            if r:
                sw_row = _delay(m, sw_row, 1, 1)
            sw = sw_row
            for c in range(C):
                if self.shadow:
                    w_act = Signal(wshape, name=f"w_{r}_{c}")
                    i_act = Signal(ishape, name=f"idx_{r}_{c}")
                    with m.If(sw):
                        m.d.sync += [w_act.eq(load_w[r][c]), i_act.eq(load_i[r][c])]
                    weight = Mux(sw, load_w[r][c], w_act)
                    index = Mux(sw, load_i[r][c], i_act)
                else:
                    weight, index = load_w[r][c], load_i[r][c]
                above = psum[r - 1][c] if r else 0
                m.d.sync += psum[r][c].eq(above + weight * act[index])
                if c + 1 < C:
                    act = _delay(m, act, 1, lanes)
                    sw = _delay(m, sw, 1, 1)
        m.d.comb += [self.psum[c].eq(psum[R - 1][c]) for c in range(C)]
        return m


class _TileOrder(Elaboratable):
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


class WeightStationaryGemmEngine(wiring.Component):
    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_chunk: int = 16, *, shadow: bool | None = None, early: int = 0, array=None):
        if cfg.acc_latency < 1:
            raise ValueError("the accumulator needs at least one cycle (acc_latency >= 1)")
        self.cfg = cfg
        self.max_m, self.max_n, self.max_k, self.max_chunk = max_m, max_n, max_k, max_chunk
        self.double_buffer = cfg.weight_double_buffer
        self.shadow = self.double_buffer if shadow is None else shadow
        self.early = early
        self.array = array           # the array's ports to drive instead of a private array (flex_gemm_engine)
        R, C, L = cfg.rows, cfg.cols, cfg.acc_latency
        self.tx_max = -(-max_n // C)
        tiles = -(-max_m // 1) * -(-max_k // R) * self.tx_max
        self.time_bits = _bits(tiles * (max_chunk + 2 * R + C + L) + 2 * R + C + L + max_k)
        self.result_layout = result_layout(max_m, max_n, cfg.acc_bits)
        lanes = data.ArrayLayout(signed(cfg.op_bits), cfg.lanes)
        super().__init__({
            "start": In(1),
            "m": In(range(max_m + 1)), "n": In(range(max_n + 1)), "k": In(range(max_k + 1)),
            "chunk": In(range(max_chunk + 1)), "interleave": In(1),
            "busy": Out(1), "done": Out(1), "stall": Out(1),
            "w_valid": In(1), "w_ready": Out(1),
            "w_values": In(data.ArrayLayout(signed(cfg.op_bits), C)),
            "w_index": In(data.ArrayLayout(unsigned(cfg.index_bits), C)),
            "a_valid": In(1), "a_ready": Out(1),
            "a_lanes": In(data.ArrayLayout(lanes, cfg.rows)),
            "result": Out(data.ArrayLayout(self.result_layout, C)),
        })

    def elaborate(self, platform):
        outer = Module()
        m = Module()                                   # every register here waits while a stream stalls
        cfg = self.cfg
        R, C, L = cfg.rows, cfg.cols, cfg.acc_latency
        mb, nb, kb = _bits(self.max_m), _bits(self.max_n), _bits(self.max_k)
        qb = _bits(self.max_chunk - 1)
        tb = _bits(self.tx_max - 1)
        T = self.time_bits

        cfg_m, cfg_n, cfg_k = Signal(mb), Signal(nb), Signal(kb)
        cfg_chunk, cfg_il = Signal(range(self.max_chunk + 1)), Signal()
        running, now = Signal(), Signal(T)
        order = dict(R=R, C=C, dims=(mb, nb, kb), m=cfg_m, n=cfg_n, k=cfg_k, chunk=cfg_chunk, interleave=cfg_il,
                 first=(self.m, self.n, self.k))
        m.submodules.issue = I = _TileOrder(**order)        # the next tile to issue
        m.submodules.load = P = _TileOrder(**order)         # the tile loading, or the next to load
        ahead = Signal()                     # P is one tile past I: tile I's weights are loaded
        loading, pl_pos = Signal(), Signal(range(R + 1))
        run_until, end_at = Signal(T), Signal(T)
        last_start = Array(Signal(T, name=f"start_t{t}") for t in range(self.tx_max))
        if self.array is None:
            m.submodules.array = array = DoubleBufferedArray(cfg, self.shadow)
        else:
            array = self.array

        with m.If(self.start):
            m.d.sync += [cfg_m.eq(self.m), cfg_n.eq(self.n), cfg_k.eq(self.k), cfg_chunk.eq(self.chunk),
                         cfg_il.eq(self.interleave), running.eq(1), now.eq(0), ahead.eq(0), loading.eq(0),
                         pl_pos.eq(0), run_until.eq(0), end_at.eq(0)]
        m.d.comb += [I.restart.eq(self.start), P.restart.eq(self.start)]
        with m.If(running & ~self.start):
            m.d.sync += now.eq(now + 1)

        # tile issue: weights loaded, the previous tile's run over, the accumulator hazard cleared
        run_ok = now >= run_until
        dep_ok = I.jz | (now + self.early >= last_start[I.t] + L)
        issue = Signal()
        m.d.comb += issue.eq(running & I.valid & ahead & run_ok & dep_ok)
        m.d.comb += I.advance.eq(issue)
        run = Mux(cfg_il, I.s, I.s + (R - 2) + I.xt)
        with m.If(issue):
            m.d.sync += [run_until.eq(now + run), last_start[I.t].eq(now)]
            tile_end = now + I.s + I.xt + (R - 2 + L)
            with m.If(tile_end > end_at):
                m.d.sync += end_at.eq(tile_end)

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
        out_regs = Signal(data.ArrayLayout(self.result_layout, C))
        t_ahead = _delay(m, cur, R - 1, tag)
        for c in range(C):
            if c:
                t_ahead = _delay(m, t_ahead, 1, tag)
            tg = _delay(m, t_ahead, 1, tag)
            bank = Memory(shape=signed(cfg.acc_bits), depth=(1 << qb) * self.tx_max, init=[],
                          attrs={"ram_style": "block"})
            m.submodules[f"acc_{c}"] = bank
            wr = bank.write_port()
            rd = bank.read_port(transparent_for=(wr,))
            m.d.comb += rd.addr.eq(Cat(t_ahead.q, t_ahead.t))
            addr = Cat(tg.q, tg.t)
            stage = data.StructLayout({"en": 1, "final": 1, "addr": len(addr), "row": unsigned(mb),
                                       "col": unsigned(nb), "value": signed(cfg.acc_bits)})
            s0 = Signal(stage)
            m.d.comb += [s0.en.eq(tg.valid & (tg.xt > c)), s0.final.eq(tg.final), s0.addr.eq(addr),
                         s0.row.eq(tg.c0 + tg.q), s0.col.eq(tg.x0 + c),
                         s0.value.eq(array.psum[c] + Mux(tg.acc, rd.data, 0))]
            last = _delay(m, s0, L - 1, stage)      # register stages after the add
            m.d.comb += [wr.addr.eq(last.addr), wr.data.eq(last.value), wr.en.eq(last.en)]
            o = out_regs[c]
            m.d.sync += [o.valid.eq(last.en), o.final.eq(last.final), o.row.eq(last.row),
                         o.col.eq(last.col), o.value.eq(last.value)]

        finished = running & ~self.start & ~I.valid & (now >= end_at)
        with m.If(finished):
            m.d.sync += running.eq(0)

        # a stream that is needed but not valid stalls everything for the cycle
        need_w, need_a = Signal(), Signal()
        m.d.comb += [need_w.eq(inject), need_a.eq(streaming)]
        en, fresh = stall_on_streams(outer, m, [(need_w, self.w_valid, self.w_ready),
                                                (need_a, self.a_valid, self.a_ready)])
        outer.d.comb += [self.busy.eq(running), self.done.eq(finished & fresh), self.stall.eq(~en)]
        for c in range(C):
            outer.d.comb += [self.result[c].eq(out_regs[c]), self.result[c].valid.eq(out_regs[c].valid & fresh)]
        return outer
