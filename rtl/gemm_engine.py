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
- the partial sum of row q, column c of tile i leaves the bottom row at cycle ``S_i + q + R + c + D``
  (``D = cfg.mac_stages - 1``: the MAC pipeline, :mod:`.pe_array`),
  is added to the buffer's value (read at the clock edge before, transparently: a write at that
  same edge is seen) and written L clock edges later (L - 1 registers after the adder, then the
  buffer's write); tile i's last write is at edge ``S_i + s_i + xt_i + R - 2 + L + D``, the
  model's end, and a dependent tile issued at ``S_dep + L`` reads exactly what its predecessor
  wrote. Interleave off, "drained" is ``s_i + R + xt_i - 2 + D``.

Ports (:class:`.gemm_core.GemmEngine`): ``start`` (one cycle, with ``m``, ``n``, ``k``, ``chunk``
in 1..max_chunk, ``interleave``) begins a GEMM, whose first preload cycle is the next one. ``w`` is
a stream of weight rows (C values and indices, padded), the tiles in issue order, each tile's rows
from its row kt-1 down to 0; ``a`` a stream of rows of A as R lane vectors (array row r: the M
activations of the group of the tile's kept-weight slot r; rows r >= kt are ignored), per tile its
chunk's rows in order. ``result`` shows each cycle's accumulator writes, one column record each
(``keep``, ``final`` for the last k-tile, output ``row`` and ``col``, ``value``), the cycle after
they happen; ``done`` comes with the GEMM's last write. A stream the engine needs and does not get
(an input not valid, or the result not taken) stalls the whole engine for the cycle.

Test-only knobs: ``shadow=False`` builds the array without shadow registers while the controller
still schedules as double-buffered; ``early=e`` lets a dependent tile issue e cycles before its
accumulator hazard allows. Both corrupt results (the tests show it).
"""
from __future__ import annotations

from .config import RtlConfig
from .gemm_core import WS, GemmEngine


class WeightStationaryGemmEngine(GemmEngine):
    """:class:`.gemm_core.GemmEngine` with the weight-stationary dataflow only."""

    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_chunk: int = 16, *, shadow: bool | None = None, early: int = 0):
        super().__init__(cfg, (WS,), max_m, max_n, max_k, max_chunk, shadow=shadow, early=early)
