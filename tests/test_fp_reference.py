"""The FP16 x FP16 -> FP32 reference kernels against independent computations: numpy's float16
and float32 arithmetic (elementwise on every pair of the formats' corner cases and on random bit
patterns; the GEMM in the array's order), float64 (products are exact) and exact integer sums."""
from __future__ import annotations

import numpy as np
import pytest

from sparseloom.kernels import fp_reference as fr
from sparseloom.kernels import reference as ref

from .fp_operands import FP16_SPECIALS, FP32_SPECIALS, fp_operands, pairs, random_fp32


def canonical(x: np.ndarray) -> np.ndarray:
    """float32 values as bits, every NaN the canonical 0x7fc00000."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).copy()
    bits[np.isnan(x)] = fr.NAN_BITS
    return bits


def numpy_mul(a, b):
    with np.errstate(invalid="ignore"):
        return canonical(a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32))


def test_products_match_numpy_and_are_exact():
    rng = np.random.default_rng(0)
    a = np.concatenate([pairs(FP16_SPECIALS)[0], rng.integers(0, 1 << 16, 200_000).astype(np.uint16)])
    b = np.concatenate([pairs(FP16_SPECIALS)[1], rng.integers(0, 1 << 16, 200_000).astype(np.uint16)])
    got = fr.fp16_mul(a, b)
    np.testing.assert_array_equal(got, numpy_mul(a, b))
    with np.errstate(invalid="ignore"):
        exact = a.view(np.float16).astype(np.float64) * b.view(np.float16).astype(np.float64)
    finite = np.isfinite(exact)
    assert (got.view(np.float32)[finite].astype(np.float64) == exact[finite]).all()     # no rounding
    assert (np.abs(exact[finite & (exact != 0)]) >= 2.0 ** -48).all()                     # never FP32-subnormal
    # signed zero, inf x 0, NaN in, infinity, the largest (65504^2 = 2^32 - 2^22 + 2^10) and smallest products
    cases = {(0x8000, 0x3C00): 0x80000000, (0x8000, 0x8000): 0x00000000, (0x7C00, 0x0000): fr.NAN_BITS,
             (0x7E00, 0x3C00): fr.NAN_BITS, (0xFC00, 0x3C00): 0xFF800000, (0x7BFF, 0x7BFF): 0x4F7FC004,
             (0x0001, 0x0001): 0x27800000}
    for (x, y), want in cases.items():
        assert int(fr.fp16_mul([x], [y])[0]) == want, hex(want)


def test_sums_match_numpy_float32():
    rng = np.random.default_rng(1)
    sa, sb = pairs(FP32_SPECIALS)
    ra, rb = random_fp32(rng, 500_000)
    a, b = np.concatenate([sa, ra]), np.concatenate([sb, rb])
    with np.errstate(invalid="ignore", over="ignore"):
        want = canonical(a.view(np.float32) + b.view(np.float32))
    np.testing.assert_array_equal(fr.fp32_add(a, b), want)
    cases = {(0x80000000, 0x80000000): 0x80000000, (0x80000000, 0x00000000): 0x00000000,
             (0x3F800000, 0xBF800000): 0x00000000, (0x7F7FFFFF, 0x7F7FFFFF): 0x7F800000,
             (0x7F800000, 0xFF800000): fr.NAN_BITS, (0x00000001, 0x80000000): 0x00000001,
             (0x4B800000, 0x3F800000): 0x4B800000,       # 2^24 + 1: a tie, to even
             (0x4B800001, 0x3F800000): 0x4B800002}       # (2^24 + 2) + 1: a tie, to even (up)
    for (x, y), want in cases.items():
        assert int(fr.fp32_add(np.array([x], np.uint32), np.array([y], np.uint32))[0]) == want, hex(want)


def numpy_gemm(a, values, index, n, m, k_tile):
    """The same GEMM with numpy float32 arrays, in the array's order: per output, each k-tile's
    products summed from +0 in row order, the tile sums added from +0 in k-tile order."""
    a32 = a.view(np.float16).astype(np.float32)
    a32 = np.concatenate([a32, np.zeros((a.shape[0], m), np.float32)], axis=1)  # lanes past K: 0
    v32 = values.view(np.float16).astype(np.float32)
    slots, cols = values.shape
    acc = np.zeros((a.shape[0], cols), np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        for t0 in range(0, slots, k_tile):
            part = np.zeros_like(acc)
            for s in range(t0, min(t0 + k_tile, slots)):
                kk = (s // n) * m + index[s]
                part = part + a32[:, kk] * v32[s]
            acc = acc + part
    return canonical(acc)


@pytest.mark.parametrize("k_tile", [None, 1, 3, 4])
@pytest.mark.parametrize("n, m", [(2, 8), (1, 4), (1, 1)])
def test_gemm_matches_numpy_in_the_same_order(n, m, k_tile):
    rng = np.random.default_rng(n * 10 + m)
    a, values, index = fp_operands(rng, 7, 37, 6, n, m)
    got = fr.nm_gemm_fp16(a, values, index, n, m, k_tile)
    np.testing.assert_array_equal(got, numpy_gemm(a, values, index, n, m, k_tile or values.shape[0]))


def test_the_order_changes_the_rounding():
    # products 1, 0, 2^-24, 2^-24: one after another each 2^-24 is lost (1 + 2^-24 is a tie,
    # to even: 1); in k-tiles of two the small ones meet first and survive as 2^-23
    a = np.full((1, 4), 0x3C00, np.uint16)                          # 1.0
    v = np.array([[0x3C00], [0x0000], [0x0001], [0x0001]], np.uint16)   # 1, 0, 2^-24 (FP16 subnormal)
    index = np.zeros((4, 1), np.int64)
    one_tile = fr.nm_gemm_fp16(a, v, index, 1, 1).view(np.float32)[0, 0]
    tiles_of_two = fr.nm_gemm_fp16(a, v, index, 1, 1, k_tile=2).view(np.float32)[0, 0]
    assert one_tile == np.float32(1.0) and tiles_of_two == np.float32(1 + 2.0 ** -23)


def test_small_integers_sum_exactly():
    # integer-valued FP16 operands with sums below 2^24: every rounding is exact, so the result
    # is the integer GEMM of the reference kernels
    rng = np.random.default_rng(3)
    w = rng.integers(-16, 17, (24, 5))
    mask = ref.topn_mask(w, 2, 8)
    values, index = ref.nm_compress(w * mask, mask, 2, 8)
    a = rng.integers(-16, 17, (6, 24))
    got = fr.nm_gemm_fp16(a.astype(np.float16).view(np.uint16), values.astype(np.float16).view(np.uint16),
                          index, 2, 8, 4)
    np.testing.assert_array_equal(got.view(np.float32), ref.nm_gemm(a, values, index, 2, 8).astype(np.float32))


def test_corner_cases_in_a_gemm():
    # inf x 0 and inf - inf give the canonical NaN and NaN propagates; -0 products sum to +0 (the
    # accumulator starts at +0); FP16 subnormal products are kept exactly
    def h(*v):
        return np.array(v, np.float16).view(np.uint16)
    a = np.stack([h(np.inf, 1, 1), h(1, np.inf, -np.inf), h(np.nan, 1, 1), h(-0.0, -0.0, -0.0),
                  h(2.0 ** -24, 2.0 ** -24, 2.0 ** -24)])
    v = np.stack([h(0, 1), h(1, 1), h(1, 1)])                       # column 0: 0, 1, 1; column 1: 1, 1, 1
    got = fr.nm_gemm_fp16(a, v, np.zeros((3, 2), np.int64), 1, 1)
    nan, inf = fr.NAN_BITS, int(np.float32(np.inf).view(np.uint32))
    assert got[:3].tolist() == [[nan, inf], [nan, nan], [nan, nan]]
    assert got[3].tolist() == [0, 0]
    assert got[4].view(np.float32).tolist() == [2 * 2.0 ** -24, 3 * 2.0 ** -24]


def test_fp32_products_and_the_sgd_update_match_numpy():
    rng = np.random.default_rng(4)
    sa, sb = pairs(FP32_SPECIALS)
    ra, rb = random_fp32(rng, 300_000)
    a, b = np.concatenate([sa, ra]), np.concatenate([sb, rb])
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        np.testing.assert_array_equal(fr.fp32_mul(a, b), canonical(a.view(np.float32) * b.view(np.float32)))
        w, g = a.view(np.float32), b.view(np.float32)
        for lr in (1e-3, 1e-38):
            want = canonical(w - canonical(np.float32(lr) * g).view(np.float32))
            np.testing.assert_array_equal(fr.sgd_update_fp32(a, b, lr), want)


def test_gemm_sums_never_reach_fp32_subnormals():
    # operands of the smallest FP16 magnitudes (subnormals and tiny normals, both signs): every
    # output is zero or at least 2^-48 in magnitude and a multiple of 2^-48 (no FP32 subnormal)
    rng = np.random.default_rng(6)
    a = (rng.integers(1, 0x0800, (6, 32)) | (rng.integers(0, 2, (6, 32)) << 15)).astype(np.uint16)
    w = (rng.integers(1, 0x0800, (32, 5)) | (rng.integers(0, 2, (32, 5)) << 15)).astype(np.uint16)
    mask = np.ones(w.shape, bool)
    values, index = ref.nm_compress(w, mask, 1, 1)
    out = fr.nm_gemm_fp16(a, values, index, 1, 1, 3).view(np.float32).astype(np.float64)
    assert (out != 0).any() and (np.abs(out[out != 0]) >= 2.0 ** -48).all()
    assert (out * 2.0 ** 48 == np.round(out * 2.0 ** 48)).all()
