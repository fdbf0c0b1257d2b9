"""Random N:M GEMM operands for the RTL tests: A, and B's kept values and in-group indices."""
from __future__ import annotations

import numpy as np

from sparseloom.kernels import reference as ref


def operands(rng, rows: int, k: int, cols: int, n: int, m: int, mask=None):
    """A [rows x k] and B [k x cols] pruned top-N-of-M (or by ``mask``), compressed. ``rng`` is a
    numpy Generator or a seed."""
    rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
    w = rng.integers(-128, 128, (k, cols))
    mask = ref.topn_mask(w, n, m) if mask is None else mask
    values, index = ref.nm_compress(w * mask, mask, n, m)
    return rng.integers(-128, 128, (rows, k)), values, index
