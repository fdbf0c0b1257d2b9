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


def resnet50_conv_mask(arch):
    """ResNet-50 BDWP 2:8's first 3x3 forward convolution on ``arch`` (layer1.0.conv2): its
    trained-trace mask as the GEMM's B mask [R*S*C x K] (k = (r, s, c)) and the schedule's
    interleave."""
    from sparseloom.dataflow.gemms import build_gemms
    from sparseloom.workloads.trace import load_workload

    from .conftest import RESNET50_2OF8

    w = load_workload(RESNET50_2OF8)
    g = build_gemms(w, arch)
    i = next(i for i in np.flatnonzero((g.phase == "FF") & (g.pattern == "2:8")) if w.layers[g.layer[i]].R == 3)
    layer = w.layers[g.layer[i]]
    mask = w.masks()[(layer.name, "fwd")]                                 # [K, C, R, S], groups along C
    b_mask = mask.transpose(2, 3, 1, 0).reshape(-1, layer.K)
    assert b_mask.shape == (int(g.k[i]), int(g.n[i]))
    return b_mask, bool(g.interleave[i])
