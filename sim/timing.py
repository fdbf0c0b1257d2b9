"""The timing contract: the one definition of how many cycles a GEMM's tiles take on the array.

Everything that needs array cycles calls :func:`array_cycles` or :func:`gemm_timing`: the
analytic path (vectorised over GEMMs), the event path (over prefixes of a GEMM's streamed axis)
and the RTL checks (exact). Each dataflow module defines its own tile timing
(:mod:`sparseloom.dataflow.flows`); this module only dispatches and states what every one of them
must hold, which ``tests/test_timing.py`` checks by property tests:

- ``cycles == busy + fill_drain + acc_hazard``, each term >= 0;
- cycles never decrease when m, n or k grows (so event steps, differences over prefixes, are
  never negative);
- ``cycles * rows * cols >= m * n * k`` (never faster than the peak), and ``busy`` is the
  MAC-issuing cycles of the tiles the dataflow runs;
- the interleave mapping is a choice the compiler records per GEMM; the timing of each choice is
  computed as is, never as the minimum of the two.
"""
from __future__ import annotations

import numpy as np

from ..dataflow.flows import ArrayTiming, Machine, Shape, per_flow


def array_cycles(rows: int, cols: int, dataflow, m, n, k, acc_latency: int, interleave,
                 weight_double_buffer: bool, chunk=None, k_dense=None, mac_pipeline_stages: int = 1) -> ArrayTiming:
    """Cycles of GEMM(s) ``m x n x k`` (``k`` executed, ``k_dense`` its dense length, default k) on
    a ``rows x cols`` array. ``dataflow`` is a dataflow name or an array of them; ``chunk`` is the
    length of the streamed axis per chunk (default: all of it); ``mac_pipeline_stages`` the PE's
    multiply-accumulate register stages (the arch's ``array.mac_pipeline_stages``). Array
    arguments broadcast."""
    shape = Shape.of(m, n, k, k_dense, chunk, interleave)
    flows = np.broadcast_to(np.asarray(dataflow), shape.m.shape)
    timing = gemm_timing(Machine(rows, cols, acc_latency, weight_double_buffer, mac_pipeline_stages), flows.reshape(-1),
                         Shape(*(np.reshape(getattr(shape, f), -1) for f in shape.__dataclass_fields__)))
    return ArrayTiming(*(np.reshape(getattr(timing, f), shape.m.shape) for f in timing.__dataclass_fields__))


def gemm_timing(machine: Machine, dataflow: np.ndarray, shape: Shape) -> ArrayTiming:
    """Array timing of each GEMM under its own dataflow (1-d arrays; ``dataflow``: names or
    :func:`~sparseloom.dataflow.flows.flow_codes`)."""
    def call(f, index):
        return f.timing(machine, Shape(*(getattr(shape, name)[index] for name in shape.__dataclass_fields__)))
    return per_flow(dataflow, call)


__all__ = ["ArrayTiming", "array_cycles", "gemm_timing"]
