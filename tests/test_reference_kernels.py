"""Reference kernels against plain numpy on random data, odd shapes included."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.kernels import reference as ref

SHAPES = [(1, 1, 1), (3, 5, 7), (17, 13, 9), (33, 40, 31)]
PATTERNS = [(1, 1), (2, 4), (1, 4), (2, 8), (1, 8), (3, 5), (1, 32)]


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_gemm_int_exact(m, k, n):
    rng = np.random.default_rng(m * 100 + k)
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    np.testing.assert_array_equal(ref.gemm(a, b), a.astype(np.int64) @ b.astype(np.int64))


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_gemm_float(m, k, n):
    rng = np.random.default_rng(k)
    a, b = rng.standard_normal((m, k)).astype(np.float16), rng.standard_normal((k, n)).astype(np.float16)
    np.testing.assert_allclose(ref.gemm(a, b), a.astype(np.float64) @ b.astype(np.float64), rtol=1e-12)


def _numpy_topn(w, n, m):
    """Top-n of m by magnitude along axis 0, ties to the lower index (numpy's stable argsort)."""
    k = w.shape[0]
    padded = np.zeros((-(-k // m) * m, w.shape[1]))
    padded[:k] = np.abs(w)
    groups = padded.reshape(-1, m, w.shape[1])
    order = np.argsort(-groups, axis=1, kind="stable")
    mask = np.zeros_like(groups, bool)
    np.put_along_axis(mask, order[:, :n], True, axis=1)
    return mask.reshape(-1, w.shape[1])[:k]


@given(k=st.integers(1, 40), cols=st.integers(1, 6), nm=st.sampled_from(PATTERNS), seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_topn_mask_matches_numpy(k, cols, nm, seed):
    n, m = nm
    w = np.random.default_rng(seed).integers(-5, 6, (k, cols)).astype(np.float64)  # many ties
    mask = ref.topn_mask(w, n, m)
    np.testing.assert_array_equal(mask, _numpy_topn(w, n, m))
    per_group = np.add.reduceat(mask.astype(int), np.arange(0, k, m), axis=0)
    sizes = np.minimum(m, k - np.arange(0, k, m))[:, None]
    assert (per_group == np.minimum(n, sizes)).all()   # exactly n kept per group (fewer if short)


@given(m_rows=st.integers(1, 9), k=st.integers(1, 40), cols=st.integers(1, 7), nm=st.sampled_from(PATTERNS),
       seed=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_nm_gemm_equals_masked_dense(m_rows, k, cols, nm, seed):
    n, m = nm
    rng = np.random.default_rng(seed)
    w = rng.integers(-100, 100, (k, cols))
    a = rng.integers(-100, 100, (m_rows, k))
    mask = ref.topn_mask(w, n, m)
    values, index = ref.nm_compress(w, mask, n, m)
    assert values.shape == (-(-k // m) * n, cols)
    assert index.max(initial=0) < m
    np.testing.assert_array_equal(ref.nm_gemm(a, values, index, n, m), a @ (w * mask))


def test_nm_compress_rejects_a_mask_that_breaks_the_pattern():
    w = np.ones((8, 1))
    with pytest.raises(ValueError, match="more than 2 of 8"):
        ref.nm_compress(w, np.ones((8, 1), bool), 2, 8)


def test_backward_direction_uses_the_transpose():
    # BDWP: forward groups along the input channels, backward along the output channels
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 8))          # [C x K]: forward reduces over C
    fwd, bwd = ref.topn_mask(w, 2, 4), ref.topn_mask(w.T, 2, 4).T
    assert (fwd.reshape(4, 4, 8).sum(1) == 2).all() and (bwd.reshape(16, 2, 4).sum(2) == 2).all()
    assert (fwd != bwd).any()                 # a row-wise N:M mask is not N:M after transposition


def _numpy_conv(x, w, stride, pad):
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(np.int64)
    k, c, r, s = w.shape
    p = (xp.shape[2] - r) // stride + 1
    q = (xp.shape[3] - s) // stride + 1
    out = np.zeros((x.shape[0], k, p, q), np.int64)
    for i in range(p):
        for j in range(q):
            patch = xp[:, :, i * stride:i * stride + r, j * stride:j * stride + s]
            out[:, :, i, j] = np.einsum("bcrs,kcrs->bk", patch, w.astype(np.int64))
    return out


@pytest.mark.parametrize("shape, kernel, stride, pad", [
    ((2, 3, 9, 7), (4, 3, 3, 3), 1, 1),
    ((1, 5, 11, 11), (6, 5, 7, 7), 2, 3),
    ((3, 2, 5, 6), (1, 2, 1, 1), 2, 0),
    ((1, 1, 4, 4), (2, 1, 4, 4), 1, 0),
])
def test_conv_via_im2col(shape, kernel, stride, pad):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-8, 8, shape)
    w = rng.integers(-8, 8, kernel)
    np.testing.assert_array_equal(ref.conv2d(x, w, stride, pad), _numpy_conv(x, w, stride, pad))
    cols = ref.im2col(x, kernel[2], kernel[3], stride, pad)
    assert cols.shape[1] == kernel[1] * kernel[2] * kernel[3]
