"""What a sparsity format says about one GEMM operand: how long the reduction the array executes
is, how many of those slots hold the tensor's own nonzeros, and the metadata bits stored per
executed value.

How a tensor is *stored* and how it is *executed* are separate choices of the GEMM table
(``stored`` and ``pattern``): a design may load a compressed copy and expand it on chip before
a denser array (Flash-LLM's load-as-sparse, compute-as-dense), see ``sparsity.load_compressed``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Executed:
    """A compressed operand: reduction slots executed per column, useful ones, metadata bits per slot."""

    k_exec: int
    k_useful: float
    meta_bits: float


class MaskFormat:
    """An unstructured format driven by a real mask ([reduction x columns] of one GEMM)."""

    name: str

    def execute(self, matrix: np.ndarray, rows: int, cols: int) -> Executed:
        raise NotImplementedError

    def stored(self, matrix: np.ndarray, rows: int, cols: int) -> tuple[float, float]:
        """The copy in DRAM and the weight buffer where the array does not execute this format
        (load-as-sparse, compute-as-dense): values stored per column and metadata bits per
        stored value. Default: as executed."""
        done = self.execute(matrix, rows, cols)
        return done.k_exec, done.meta_bits
