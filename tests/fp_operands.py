"""FP16 test operands: the corner cases of the format and random N:M GEMM operands as bit patterns."""
from __future__ import annotations

import numpy as np

from sparseloom.kernels import reference as ref

# +-0, the smallest/largest subnormals, the smallest normal, 1, values near 1, the largest
# finite, infinities and NaNs (quiet, signalling, negative)
FP16_SPECIALS = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x8400, 0x3C00, 0xBC00,
                          0x3BFF, 0x3C01, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE00, 0x3555,
                          0x0200, 0x5640, 0xC3FF, 0x1234], np.uint16)
# +-0, subnormals, the smallest normal, 1, the largest finite, infinities, NaNs, values whose sum
# cancels or overflows or rounds at a tie
FP32_SPECIALS = np.array([0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00800000,
                          0x80800000, 0x3F800000, 0xBF800000, 0x3F800001, 0xBF7FFFFF, 0x7F7FFFFF, 0xFF7FFFFF,
                          0x7F7FFFFE, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC00000, 0x4B800000,
                          0x33800000, 0x34000000, 0xB3800000, 0x00400000, 0x80400001], np.uint32)


def pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of ``values``."""
    a, b = np.meshgrid(values, values, indexing="ij")
    return a.ravel(), b.ravel()


def random_fp32(rng, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Random FP32 bit-pattern pairs: uniform, with exponents close together (cancellation and
    alignment by a few bits), subnormals, near overflow, and FP16 products (the GEMM's addends)."""
    def uniform(n):
        return rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    q = count // 5
    a, b = uniform(count), uniform(count)
    near = a[q:2 * q] ^ rng.integers(0, 1 << 26, q).astype(np.uint32)          # exponent differs by <= 7
    near ^= rng.integers(0, 2, q).astype(np.uint32) << 31
    b[q:2 * q] = near
    sub = rng.integers(0, 1 << 24, (2, q)).astype(np.uint32) | (rng.integers(0, 2, (2, q)).astype(np.uint32) << 31)
    a[2 * q:3 * q], b[2 * q:3 * q] = sub
    big = (0x7F000000 + rng.integers(0, 1 << 24, (2, q))).astype(np.uint32)
    a[3 * q:4 * q], b[3 * q:4 * q] = big
    h = rng.integers(0, 1 << 16, (4, count - 4 * q)).astype(np.uint16).view(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        a[4 * q:], b[4 * q:] = (h[0] * h[1]).view(np.uint32), (h[2] * h[3]).view(np.uint32)
    return a, b


def fp_operands(rng, rows: int, k: int, cols: int, n: int, m: int, mask=None):
    """A [rows x k] FP16 bits and B [k x cols] pruned top-N-of-M by magnitude (or by ``mask``),
    compressed (FP16 bits): standard normal values."""
    rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
    w = rng.standard_normal((k, cols)).astype(np.float16)
    mask = ref.topn_mask(w.astype(np.float64), n, m) if mask is None else mask
    values, index = ref.nm_compress(w.view(np.uint16) * mask, mask, n, m)
    a = rng.standard_normal((rows, k)).astype(np.float16).view(np.uint16)
    return a, values.astype(np.uint16), index
