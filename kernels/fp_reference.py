"""FP16 x FP16 -> FP32 reference kernels, in the order and rounding of the generated FP PE array.

Products are exact in FP32; every sum is one FP32 addition rounded to nearest even (the CPU's
IEEE binary32 arithmetic, subnormals kept); a NaN result is the canonical quiet NaN 0x7fc00000
(:mod:`sparseloom.rtl.fp_arith` has the same policy). Operands and results are bit patterns
(``uint16`` FP16, ``uint32`` FP32).

The accumulation order is the array's: an output's executed rows (compressed N:M slots) are
summed per k-tile of ``k_tile`` rows, starting from +0 in row order (the weight-stationary
partial-sum chain down a column), and the k-tile sums are added in k-tile order to an
accumulator starting from +0 (the accumulator bank). Output-stationary arrays add every product
to the PE's accumulator in slot order: ``k_tile`` of at least the slots (one tile). Interleaving
reorders tiles of different outputs only, so it does not change any output's order.
"""
from __future__ import annotations

import numba
import numpy as np

FP16_TO_FP32 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
NAN = np.float32(np.nan)                       # bits 0x7fc00000
NAN_BITS = 0x7FC00000


@numba.njit(cache=True)
def _canonical(x):
    return NAN if x != x else x


@numba.njit(cache=True)
def _nm_gemm(a, values, index, n, m, k_tile, lut, out):
    rows, k = a.shape
    slots, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            acc = np.float32(0.0)
            for t0 in range(0, slots, k_tile):
                part = np.float32(0.0)
                for s in range(t0, min(t0 + k_tile, slots)):
                    kk = (s // n) * m + index[s, j]
                    act = lut[a[i, kk]] if kk < k else np.float32(0.0)    # lanes past K are zero-filled
                    part = _canonical(part + _canonical(lut[values[s, j]] * act))
                acc = _canonical(acc + part)
            out[i, j] = acc
    return out


def nm_gemm_fp16(a: np.ndarray, values: np.ndarray, index: np.ndarray, n: int, m: int,
                 k_tile: int | None = None) -> np.ndarray:
    """``a @ W`` (FP16 bits ``a`` [rows x K]; W in the compressed form of
    ``reference.nm_compress``, FP16 bits ``values`` and ``index`` [slots x cols]) as FP32 bits,
    summed per ``k_tile`` slots (weight-stationary: the array's rows; default: one tile, the
    output-stationary order)."""
    values = np.asarray(values)
    k_tile = k_tile or max(values.shape[0], 1)
    out = np.zeros((a.shape[0], values.shape[1]), np.float32)
    _nm_gemm(np.asarray(a, np.int64), values.astype(np.int64), np.asarray(index, np.int64), n, m, k_tile,
             FP16_TO_FP32, out)
    return out.view(np.uint32)


@numba.njit(cache=True)
def _mul(a, b, lut, out):
    for i in range(a.size):
        out[i] = _canonical(lut[a[i]] * lut[b[i]])
    return out


@numba.njit(cache=True)
def _add(a, b, out):
    for i in range(a.size):
        out[i] = _canonical(a[i] + b[i])
    return out


def fp16_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FP32 bits of the exact products of FP16 bit patterns (elementwise)."""
    a, b = np.asarray(a, np.int64).ravel(), np.asarray(b, np.int64).ravel()
    return _mul(a, b, FP16_TO_FP32, np.zeros(a.size, np.float32)).view(np.uint32)


def fp32_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FP32 bits of ``a + b`` for FP32 bit patterns (elementwise), rounded to nearest even."""
    a = np.ascontiguousarray(a, np.uint32).ravel().view(np.float32)
    b = np.ascontiguousarray(b, np.uint32).ravel().view(np.float32)
    return _add(a, b, np.zeros(a.size, np.float32)).view(np.uint32)


@numba.njit(cache=True)
def _fmul(a, b, out):
    for i in range(a.size):
        out[i] = _canonical(a[i] * b[i])
    return out


def fp32_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """FP32 bits of ``a * b`` for FP32 bit patterns (elementwise), rounded to nearest even."""
    a = np.ascontiguousarray(a, np.uint32).ravel().view(np.float32)
    b = np.ascontiguousarray(b, np.uint32).ravel().view(np.float32)
    return _fmul(a, b, np.zeros(a.size, np.float32)).view(np.uint32)


@numba.njit(cache=True)
def _sgd(w, g, lr, out):
    for i in range(w.size):
        out[i] = _canonical(w[i] - _canonical(lr * g[i]))
    return out


def sgd_update_fp32(w: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """SAT's FP32 weight update, ``w - lr * g`` on FP32 master weights (bit patterns): the product
    rounded to FP32, then the difference (two roundings, as the update lane computes it)."""
    w = np.ascontiguousarray(w, np.uint32).ravel().view(np.float32)
    g = np.ascontiguousarray(g, np.uint32).ravel().view(np.float32)
    return _sgd(w, g, np.float32(lr), np.zeros(w.size, np.float32)).view(np.uint32)
