"""One whole-GEMM engine for every dataflow the RTL builds: :class:`GemmEngine` is the PE array
(:class:`.pe_array.PeArray`), the controller of each dataflow it runs (:mod:`.ws_control`,
:mod:`.os_control`), the result register and three ``amaranth.lib.stream`` ports. The dedicated
engines (:mod:`.gemm_engine`, :mod:`.os_gemm_engine`) are this engine with one dataflow; the
flexible one (:mod:`.flex_gemm_engine`) has both, switched by ``mode`` at each ``start``.

Streams (payloads ``data.StructLayout``):

- ``w`` (in): a weight row, ``values`` and ``index``, C kept values and their in-group indices;
- ``a`` (in): a row of A as R lane vectors (``lanes``);
- ``result`` (out): ``columns``, one record per array column (``keep``: the column carries a
  result, ``final``, output ``row``, ``col``, ``value``).

Flow control: the array cannot stall on its own, so the whole engine (array, controllers, result
register) waits for the cycle when a stream it needs this cycle is not valid, or when the result
register holds a result (``result.valid``) that ``result.ready`` does not take. Results are then
neither lost nor shown twice, and the GEMM ends exactly one cycle later per such cycle
(``stall`` flags them). ``result.valid`` never depends on ``ready``; the input ``ready`` do on
the other streams' ``valid`` and on ``result.ready`` (a sink may wait for valid). ``done`` is
high in the cycle the GEMM's last result transfers (or, where the last cycle shows none, the
cycle after its last register moved).
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, Value, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import RtlConfig
from .engine_common import bits
from .os_control import OsController
from .pe_array import OS_PORTS, SHARED, WS_PORTS, PeArray
from .ws_control import WsController

WS, OS = "weight_stationary", "output_stationary"
MODES = {"0": WS, "1": OS}            # ``mode`` at start, when an engine runs both


def column_layout(max_m: int, max_n: int, acc_shape) -> data.StructLayout:
    """One accumulator write (weight-stationary: every k-tile's, ``final`` on the last) or output
    (output-stationary: ``final`` always) shown on one array column of the result stream."""
    return data.StructLayout({"keep": 1, "final": 1, "row": unsigned(bits(max_m)), "col": unsigned(bits(max_n)),
                              "value": acc_shape})


class GemmEngine(wiring.Component):
    def __init__(self, cfg: RtlConfig, dataflows=(WS, OS), max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_chunk: int = 16, max_group: int | None = None, *, shadow: bool | None = None, early: int = 0):
        if cfg.acc_latency < 1:
            raise ValueError("the accumulator needs at least one cycle (acc_latency >= 1)")
        if cfg.mac_stages < 1:
            raise ValueError("the MAC needs at least its adder's register (mac_stages >= 1)")
        unknown = set(dataflows) - {WS, OS}
        if unknown or not dataflows:
            raise ValueError(f"no whole-GEMM engine for {sorted(unknown) or 'no dataflow'}")
        self.cfg = cfg
        self.dataflows = [f for f in (WS, OS) if f in dataflows]
        self.has_ws, self.has_os = WS in dataflows, OS in dataflows
        self.max_m, self.max_n, self.max_k = max_m, max_n, max_k
        self.max_chunk = max_chunk if self.has_ws else None
        self.max_group = (max_group or max(1, cfg.acc_latency)) if self.has_os else None
        self.double_buffer = cfg.weight_double_buffer and self.has_ws
        self.shadow = self.double_buffer if shadow is None else shadow
        self.early = early
        R, C, dp = cfg.rows, cfg.cols, cfg.datapath
        self.column_layout = column_layout(max_m, max_n, dp.acc_shape)
        self.w_layout = data.StructLayout({"values": data.ArrayLayout(dp.op_shape, C),
                                           "index": data.ArrayLayout(unsigned(cfg.index_bits), C)})
        self.a_layout = data.StructLayout({"lanes": data.ArrayLayout(data.ArrayLayout(dp.op_shape, cfg.lanes), R)})
        self.result_layout = data.StructLayout({"columns": data.ArrayLayout(self.column_layout, C)})
        members = {"start": In(1)}
        if self.has_ws and self.has_os:
            members["mode"] = In(1)
        members.update({"m": In(range(max_m + 1)), "n": In(range(max_n + 1)), "k": In(range(max_k + 1))})
        if self.has_ws:
            members["chunk"] = In(range(max_chunk + 1))
        if self.has_os:
            members["group"] = In(range(self.max_group + 1))
        members.update({"interleave": In(1), "busy": Out(1), "done": Out(1), "stall": Out(1),
                        "w": In(stream.Signature(self.w_layout)), "a": In(stream.Signature(self.a_layout)),
                        "result": Out(stream.Signature(self.result_layout))})
        super().__init__(members)

    def elaborate(self, platform):
        outer, core = Module(), Module()               # every register in core waits while the engine stalls
        cfg = self.cfg
        array = PeArray(cfg, self.has_ws, self.has_os, self.max_group or 1, self.shadow)
        core.submodules.array = array
        mode = Signal()                                # the running GEMM's dataflow (1: output-stationary)
        if self.has_ws and self.has_os:
            with core.If(self.start):
                core.d.sync += mode.eq(self.mode)
            starting_os = self.mode
            core.d.comb += array.mode.eq(mode)
        else:
            core.d.comb += mode.eq(int(self.has_os))
            starting_os = int(self.has_os)
        controllers = []                               # (controller, its array ports)
        if self.has_ws:
            ws = WsController(cfg, (self.max_m, self.max_n, self.max_k, self.max_chunk), array.ports(WS_PORTS),
                              self.column_layout, double_buffer=self.double_buffer, early=self.early)
            core.submodules.ws = ws
            core.d.comb += [ws.start.eq(self.start & ~starting_os), ws.chunk.eq(self.chunk)]
            controllers.append((ws, WS_PORTS))
        if self.has_os:
            os_ = OsController(cfg, (self.max_m, self.max_n, self.max_k), array.ports(OS_PORTS),
                               self.column_layout, self.max_group)
            core.submodules.os = os_
            core.d.comb += [os_.start.eq(self.start & starting_os), os_.group.eq(self.group)]
            controllers.append((os_, OS_PORTS))

        def running_ones(values):
            """Of one value per controller, the running controller's (the other one idles)."""
            values = [Value.cast(v) for v in values]
            return values[0] if len(values) == 1 else Mux(mode, values[1], values[0])

        for ctl, names in controllers:
            core.d.comb += [ctl.m.eq(self.m), ctl.n.eq(self.n), ctl.k.eq(self.k), ctl.interleave.eq(self.interleave),
                            ctl.w_values.eq(self.w.payload.values), ctl.w_index.eq(self.w.payload.index),
                            ctl.a_lanes.eq(self.a.payload.lanes)]
            for name in names:
                if name not in SHARED and name in array.signature.members:
                    port, mine = getattr(array, name), getattr(ctl.array, name)
                    core.d.comb += mine.eq(port) if array.signature.members[name].flow == Out else port.eq(mine)
        for name in (n for n in SHARED if n in array.signature.members):
            core.d.comb += getattr(array, name).eq(running_ones([getattr(ctl.array, name) for ctl, _ in controllers]))

        # the result register: one transfer of C columns a cycle, held while ``ready`` is low
        shown = Signal(self.result_layout)
        nxt = Signal(data.ArrayLayout(self.column_layout, cfg.cols))
        core.d.comb += nxt.eq(running_ones([ctl.result_next for ctl, _ in controllers]))
        keep = Signal()                                # any column of ``shown`` carries a result
        core.d.sync += [shown.columns.eq(nxt), keep.eq(Cat(nxt[c].keep for c in range(cfg.cols)).any())]
        pending = Signal()                             # ``shown`` holds results not yet taken
        held = Signal()
        outer.d.comb += [self.result.payload.eq(shown), self.result.valid.eq(pending & keep),
                         held.eq(self.result.valid & ~self.result.ready)]

        either = {}                                    # an idle controller needs nothing, is not running
        for name in ("need_w", "need_a", "finished", "running"):
            either[name] = Signal(name=f"any_{name}")
            core.d.comb += either[name].eq(Cat(getattr(ctl, name) for ctl, _ in controllers).any())
        need_w, need_a, finished, running = (either[n] for n in ("need_w", "need_a", "finished", "running"))
        en = Signal()
        outer.d.comb += en.eq(~(need_w & ~self.w.valid) & ~(need_a & ~self.a.valid) & ~held)
        outer.submodules.core = EnableInserter(en)(core)
        outer.d.sync += pending.eq(en | (pending & ~self.result.ready))
        outer.d.comb += [self.w.ready.eq(need_w & en), self.a.ready.eq(need_a & en), self.stall.eq(~en),
                         self.busy.eq(running), self.done.eq(finished & pending & ~held)]
        return outer

