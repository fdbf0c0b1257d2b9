"""An output-stationary engine that runs a whole GEMM, tile by tile, as ``dataflow.flows.output_stationary`` times it.

``C[m x n] = A[m x k] B[k x n]`` with B N:M-compressed (``k`` executed rows: kept values and their
in-group indices). C is cut into output tiles of up to R rows of m by C columns of n, walked with
the rows of A outermost (m-tile outer, n-tile inner). Every PE keeps ``max_group`` accumulators
and as many shadow registers; its adder has a latency of ``L = cfg.acc_latency`` cycles after the
MAC pipeline's ``D = cfg.mac_stages - 1`` (the sum of an issue at cycle t is in the accumulator at
t + D + L; the accumulation loop skips the D stages, so a dependent MAC may still follow L later).

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
+ g_{i-1} R)`` with ``X_i = S_i + I_i - 1 + L + D`` (its sums complete in PE (0, 0)) and mt the rows
of the first tile (interleave off: of the tile itself); its last result shows at ``w_i + nt - 1 +
g_i R``. Short groups (``I`` below the lag ``L + D``, e.g. executed k below L) finish issuing
before an earlier group's readout starts: the drains wait in order in a queue of ``1 +
ceil((L + D - 1) / R)`` (the most that can wait, given the issue rule below). Interleave on,
group i+1 issues from the cycle after group i's last issue unless its own copy would reach a PE before that PE's shadows have been read (``X_{i+1} >= w_i + mt (g_i - 1) +
1``); this never moves a drain (whenever it delays an issue, the drain is the bottleneck), so the
last result is exactly the model's two-stage flow shop ``skew + path + L - 1 + D``. Interleave off,
the next tile issues in the cycle its predecessor's last result shows: ``k L + skew + R + D`` a tile.

Ports (:class:`.gemm_core.GemmEngine`): ``start`` (one cycle, with ``m``, ``n``, ``k``, ``group``
in 1..max_group, ``interleave``) begins a GEMM, whose first issue is the next cycle; ``a`` and
``w`` are streams, one item each per issue, in issue order. ``result`` shows each cycle's outputs,
one column record each (``keep``, ``final`` always set, ``row``, ``col``, ``value``); ``done`` is
high in the cycle of the last drain. A stream the engine needs and does not get (an input not
valid, or the result not taken) stalls the whole engine for the cycle.
"""
from __future__ import annotations

from .config import RtlConfig
from .gemm_core import OS, GemmEngine


class OutputStationaryGemmEngine(GemmEngine):
    """:class:`.gemm_core.GemmEngine` with the output-stationary dataflow only."""

    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_group: int | None = None):
        super().__init__(cfg, (OS,), max_m, max_n, max_k, max_group=max_group)
