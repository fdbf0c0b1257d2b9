"""The tile-timing function against hand-derived cycle counts, and its structural properties."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.sim.timing import array_cycles


def timing(rows, cols, ws, m, n, k, L, interleave, double_buffer=True, m_tile=None):
    t = array_cycles(rows, cols, ws, m, n, k, L, interleave, double_buffer, m_tile)
    return int(t.cycles), int(t.busy), int(t.fill_drain), int(t.acc_hazard)


def test_ws_single_tile():
    # 4x4 array, one 4x4 weight tile, 10 rows of A. Weights shift in over cycles 0-3. Row i of A
    # enters array row r at 4+i+r and reaches column c at 4+i+r+c; its partial sum leaves the
    # bottom row at 4+i+3+c+1, the last (i=9, c=3) at 20; the accumulator (L=1) has it at 21.
    assert timing(4, 4, True, 10, 4, 4, 1, interleave=False) == (21, 10, 11, 0)


def test_ws_two_k_tiles_one_after_another():
    # k=8 on 4 rows: two tiles of 2 streamed rows, each paying its own skew (3+3); the second
    # tile's weights preload (double buffer) while the first runs; partial sums meet in the
    # accumulator 8 cycles apart, longer than L=3, so no hazard: 4 + 2*(2+6) + 3 = 23.
    assert timing(4, 4, True, 2, 4, 8, 3, interleave=False) == (23, 4, 19, 0)


def test_ws_without_weight_double_buffer_preloads_serially():
    # same as above, but the second preload (4 cycles) cannot overlap: 23 + 4
    assert timing(4, 4, True, 2, 4, 8, 3, interleave=False, double_buffer=False)[0] == 27


def test_ws_interleaved_bubbles_and_hazard():
    # k=8, n=8 on 4x4: 4 tiles of 2 rows back to back. Each next preload needs 4 cycles but the
    # current stream lasts 2: 3 bubbles of 2. Order (k-tile 0: n0, n1; k-tile 1: n0, n1) puts a
    # dependent accumulation 2*2=4 cycles after the first, L=6 wants 6: one stall of 2.
    # preload 4 + bubbles 6 + stream 8 + skew 6 + hazard 2 + accumulator 6 = 32
    assert timing(4, 4, True, 2, 8, 8, 6, interleave=True) == (32, 8, 22, 2)


def test_ws_chunks_of_a():
    # m=10 in chunks of 4, 4, 2 over one weight tile: back to back (interleave) the chunks only
    # add bubbles where a chunk is shorter than the preload (4): the last chunk, 2 cycles -> none,
    # since nothing follows it. preload 4 + stream 10 + skew 6 + accumulator 1.
    assert timing(4, 4, True, 10, 4, 4, 1, interleave=True, m_tile=4) == (21, 10, 11, 0)
    # one after another, each of the 3 chunk-tiles pays its skew: 4 + 10 + 3*6 + 1
    assert timing(4, 4, True, 10, 4, 4, 1, interleave=False, m_tile=4) == (33, 10, 23, 0)


def test_os_single_tile_waits_for_the_adder():
    # 4x4 outputs, k=5, adder latency 3: the last PE starts after a skew of 3+3, issues a
    # dependent MAC every 3 cycles (5 issues over 13 cycles), has its sum 3 cycles after the last
    # issue, then the outputs shift out through 4 rows: 6 + 12 + 3 + 4 = 25.
    assert timing(4, 4, False, 4, 4, 5, 3, interleave=False) == (25, 5, 12, 8)


def test_os_interleaved_groups():
    # 2x2 array, 4x4 outputs = 4 tiles, L=2: two groups of 2 tiles. Each PE alternates between
    # its two accumulators (issue every cycle, each accumulator every 2 = L). After the skew of
    # 2, group 1 issues at 2..7, its last sum is ready at 8 and its 2 tiles x 2 rows drain over
    # 8..11 while group 2 issues at 8..13; group 2's last sum is ready at 14, drained by 18: 19.
    assert timing(2, 2, False, 4, 4, 3, 2, interleave=True) == (19, 12, 7, 0)


def test_os_interleaved_drain_bound():
    # k=1: group 1 issues at 2..3, sums ready at 5, drains 5..8; group 2 issues at 4..5, its
    # sums wait for the drain path until 9 and leave by 12: 13 cycles.
    assert timing(2, 2, False, 4, 4, 1, 2, interleave=True)[0] == 13


def test_vectorised_equals_scalar():
    rng = np.random.default_rng(1)
    m, n, k = (rng.integers(1, 300, 50) for _ in range(3))
    ws = rng.integers(0, 2, 50).astype(bool)
    vec = array_cycles(8, 16, ws, m, n, k, 4, True, True)
    for i in range(50):
        one = array_cycles(8, 16, ws[i], m[i], n[i], k[i], 4, True, True)
        assert int(one.cycles) == vec.cycles[i]


dims = st.integers(1, 300)


@given(rows=st.integers(1, 64), cols=st.integers(1, 64), ws=st.booleans(), m=dims, n=dims, k=dims,
       L=st.integers(1, 12), interleave=st.booleans(), double_buffer=st.booleans(), chunk=st.integers(1, 300))
@settings(max_examples=400, deadline=None)
def test_properties(rows, cols, ws, m, n, k, L, interleave, double_buffer, chunk):
    t = array_cycles(rows, cols, ws, m, n, k, L, interleave, double_buffer, chunk)
    cycles, busy = int(t.cycles), int(t.busy)
    assert cycles == busy + int(t.fill_drain) + int(t.acc_hazard)
    assert min(int(t.fill_drain), int(t.acc_hazard)) >= 0
    assert cycles * rows * cols >= m * n * k                        # never faster than the peak
    assert busy == (-(-k // rows) * -(-n // cols) * m if ws else -(-m // rows) * -(-n // cols) * k)
    # the interleave mapping never makes a GEMM slower
    other = array_cycles(rows, cols, ws, m, n, k, L, not interleave, double_buffer, chunk)
    on, off = (t, other) if interleave else (other, t)
    assert int(on.cycles) <= int(off.cycles)
    # without interleaving, a deeper adder pipeline never helps (with it, the OS grouping of
    # g = L tiles can happen to fit the tile count better at L + 1)
    if not interleave:
        assert int(array_cycles(rows, cols, ws, m, n, k, L + 1, False, double_buffer, chunk).cycles) >= cycles
