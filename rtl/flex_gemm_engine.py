"""One PE array that runs whole GEMMs weight-stationary or output-stationary, switched between GEMMs
(SAT's flexible array): ``mode`` at ``start`` (0: weight-stationary, 1: output-stationary).

Every PE has one multiplier, one adder and one weight/index register chain used by both dataflows
(:mod:`.pe_array`); each mode's controller is the one of its dedicated engine
(:mod:`.ws_control`, :mod:`.os_control`), so each mode keeps that engine's schedule cycle for
cycle: the dedicated engines are this one with the other mode not built (:class:`.gemm_core.GemmEngine`).
Ports: the union of both engines' (``chunk`` for weight-stationary, ``group`` for
output-stationary) plus ``mode``; the result stream's ``final`` is always set in
output-stationary mode, where every output is shown once.
"""
from __future__ import annotations

from .config import RtlConfig
from .gemm_core import MODES, OS, WS, GemmEngine

__all__ = ["FlexibleGemmEngine", "MODES"]


class FlexibleGemmEngine(GemmEngine):
    """:class:`.gemm_core.GemmEngine` with both dataflows; ``mode`` (latched at ``start``) picks
    the dataflow of each GEMM."""

    def __init__(self, cfg: RtlConfig, max_m: int = 1024, max_n: int = 256, max_k: int = 1024,
                 max_chunk: int = 16, max_group: int | None = None):
        super().__init__(cfg, (WS, OS), max_m, max_n, max_k, max_chunk, max_group)
