"""One layer of a trace (a row of ``layers.csv``): its shapes, N:M patterns and densities.

Its own module so that the trace format (``trace.py``) and the masks (``masks.py``) both build on
it without importing each other; ``trace`` re-exports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..arch.schema import NMPattern


@dataclass(frozen=True)
class Layer:
    """One row of ``layers.csv``."""

    name: str
    kind: Literal["conv", "linear", "matmul"]
    C: int
    K: int
    R: int = 1
    S: int = 1
    stride: int = 1
    pad: int = 0
    H: int = 1
    W: int = 1
    groups: int = 1
    repeat: int = 1
    fwd_nm: NMPattern = NMPattern(1, 1)
    bwd_nm: NMPattern = NMPattern(1, 1)
    input_grad: int = 1
    act_density: Optional[float] = None
    grad_density: Optional[float] = None

    @property
    def P(self) -> int:
        return (self.H + 2 * self.pad - self.R) // self.stride + 1

    @property
    def Q(self) -> int:
        return (self.W + 2 * self.pad - self.S) // self.stride + 1

    @property
    def outputs(self) -> int:
        """Output elements of one instance for one input sample (K x P x Q; tokens x K for linear)."""
        return self.K * self.P * self.Q

    @property
    def has_weights(self) -> bool:
        return self.kind != "matmul"

    @property
    def weights(self) -> int:
        """Weight count of one instance (0 for an activation-activation matmul)."""
        return self.K * (self.C // self.groups) * self.R * self.S if self.has_weights else 0

    @property
    def macs_per_sample(self) -> int:
        """Forward MACs of one instance for one input sample."""
        return self.P * self.Q * self.K * (self.C // self.groups) * self.R * self.S

    def problems(self):
        """(column, expectation) pairs for impossible values."""
        for col in ("C", "K", "R", "S", "stride", "H", "W", "groups", "repeat"):
            if getattr(self, col) < 1:
                yield col, f"expected an integer >= 1, got {getattr(self, col)}"
                return
        if self.pad < 0:
            yield "pad", f"expected an integer >= 0, got {self.pad}"
        if self.C % self.groups or self.K % self.groups:
            yield "groups", f"expected groups ({self.groups}) to divide C ({self.C}) and K ({self.K})"
        if self.P < 1 or self.Q < 1:
            yield "H", f"expected the {self.R}x{self.S} window (pad {self.pad}) to fit the {self.H}x{self.W} input"
        if self.input_grad not in (0, 1):
            yield "input_grad", f"expected 0 or 1, got {self.input_grad}"
        for col, pattern, length, axis in (("fwd_nm", self.fwd_nm, self.C, "C"), ("bwd_nm", self.bwd_nm, self.K, "K")):
            if (length // self.groups) % pattern.m:
                yield col, f"expected M of {pattern} to divide the {axis} channels per group ({length // self.groups}); mark such a layer dense"
        if self.kind == "matmul" and not (self.fwd_nm.dense and self.bwd_nm.dense):
            yield "fwd_nm", "expected dense for a matmul (both operands are activations)"
        for col in ("act_density", "grad_density"):
            value = getattr(self, col)
            if value is not None and not 0 <= value <= 1:
                yield col, f"expected a fraction between 0 and 1, got {value}"
