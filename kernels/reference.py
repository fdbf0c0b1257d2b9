"""Reference kernels: dense GEMM, N:M pruning and compression, N:M sparse GEMM, im2col conv.

Integer inputs accumulate in int64 and floating-point inputs in float64, so results are exact
for the integer datapaths the RTL implements and a well-defined reference for floats. N:M
operates along axis 0 of a ``[K x N]`` weight matrix (the reduction axis of ``A @ W``); use
``.T`` for the other direction. A K that M does not divide is zero-padded to whole groups.
"""
from __future__ import annotations

import numba
import numpy as np


def _acc_dtype(*arrays: np.ndarray) -> type:
    return np.int64 if all(np.issubdtype(a.dtype, np.integer) for a in arrays) else np.float64


@numba.njit(cache=True)
def _gemm(a, b, out):
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for kk in range(k):
            av = a[i, kk]
            for j in range(n):
                out[i, j] += av * b[kk, j]
    return out


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` with exact integer (int64) or float64 accumulation."""
    acc = _acc_dtype(a, b)
    return _gemm(a.astype(acc), b.astype(acc), np.zeros((a.shape[0], b.shape[1]), acc))


@numba.njit(cache=True)
def _topn_mask(w, n, m):
    k, cols = w.shape
    mask = np.zeros((k, cols), np.bool_)
    for j in range(cols):
        for g0 in range(0, k, m):
            g1 = min(g0 + m, k)
            # top-n by magnitude; ties keep the lower index (stable), like SAT's sorter
            for _ in range(min(n, g1 - g0)):
                best = -1
                for kk in range(g0, g1):
                    if not mask[kk, j] and (best < 0 or abs(w[kk, j]) > abs(w[best, j])):
                        best = kk
                mask[best, j] = True
    return mask


def topn_mask(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Boolean mask keeping the ``n`` largest-magnitude entries of every group of ``m`` along axis 0."""
    _check_nm(n, m)
    return _topn_mask(np.ascontiguousarray(w, np.float64), n, m)


@numba.njit(cache=True)
def _compress(w, mask, n, m, values, index):
    k, cols = w.shape
    for j in range(cols):
        for g in range(values.shape[0] // n):
            slot = g * n
            for kk in range(g * m, min(g * m + m, k)):
                if mask[kk, j]:
                    values[slot, j] = w[kk, j]
                    index[slot, j] = kk - g * m
                    slot += 1
    return values, index


def nm_compress(w: np.ndarray, mask: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Compress an N:M-masked ``[K x N]`` matrix along axis 0.

    Returns ``values`` and in-group ``index`` arrays of shape ``[ceil(K/m)*n x N]``: for group g,
    rows ``g*n .. g*n+n-1`` hold the kept values in ascending position, with their positions in
    the group. Groups with fewer than n kept entries are padded with zero values at index 0.
    """
    _check_nm(n, m)
    per_group = np.add.reduceat(mask.astype(np.int64), np.arange(0, w.shape[0], m), axis=0)
    if (per_group > n).any():
        raise ValueError(f"mask keeps more than {n} of {m} in some group")
    groups = -(-w.shape[0] // m)
    values = np.zeros((groups * n, w.shape[1]), w.dtype)
    index = np.zeros((groups * n, w.shape[1]), np.int64)
    return _compress(w, mask.astype(np.bool_), n, m, values, index)


@numba.njit(cache=True)
def _nm_gemm(a, values, index, n, m, out):
    rows, k = a.shape
    slots, cols = values.shape
    for i in range(rows):
        for s in range(slots):
            base = (s // n) * m
            for j in range(cols):
                kk = base + index[s, j]
                if kk < k:
                    out[i, j] += a[i, kk] * values[s, j]
    return out


def nm_gemm(a: np.ndarray, values: np.ndarray, index: np.ndarray, n: int, m: int) -> np.ndarray:
    """``a @ W`` for W in the compressed N:M form of :func:`nm_compress` (M:1 activation select)."""
    _check_nm(n, m)
    acc = _acc_dtype(a, values)
    out = np.zeros((a.shape[0], values.shape[1]), acc)
    return _nm_gemm(a.astype(acc), values.astype(acc), index.astype(np.int64), n, m, out)


@numba.njit(cache=True)
def _im2col(x, r, s, stride, pad, p, q):
    batch, c, h, w = x.shape
    cols = np.zeros((batch * p * q, c * r * s), x.dtype)
    for b in range(batch):
        for i in range(p):
            for j in range(q):
                row = (b * p + i) * q + j
                for ch in range(c):
                    for dr in range(r):
                        for ds in range(s):
                            y, xx = i * stride + dr - pad, j * stride + ds - pad
                            if 0 <= y < h and 0 <= xx < w:
                                cols[row, (ch * r + dr) * s + ds] = x[b, ch, y, xx]
    return cols


def im2col(x: np.ndarray, r: int, s: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold an NCHW tensor to ``[B*P*Q x C*R*S]`` (columns ordered c, r, s like a flattened OIHW filter)."""
    p = (x.shape[2] + 2 * pad - r) // stride + 1
    q = (x.shape[3] + 2 * pad - s) // stride + 1
    return _im2col(np.ascontiguousarray(x), r, s, stride, pad, p, q)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """NCHW x OIHW convolution (no groups) through im2col and :func:`gemm`; returns NKPQ."""
    k, c, r, s = w.shape
    batch = x.shape[0]
    p = (x.shape[2] + 2 * pad - r) // stride + 1
    q = (x.shape[3] + 2 * pad - s) // stride + 1
    out = gemm(im2col(x, r, s, stride, pad), w.reshape(k, c * r * s).T)
    return out.reshape(batch, p, q, k).transpose(0, 3, 1, 2)


def _check_nm(n: int, m: int) -> None:
    if not 1 <= n <= m:
        raise ValueError(f"expected 1 <= N <= M, got N={n}, M={m}")
