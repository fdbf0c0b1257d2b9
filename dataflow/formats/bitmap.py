"""Bitmap per column: the same execution as CSR (each column its own nonzeros, the fullest column
paces a tile), metadata one bit per dense position (K / k_exec bits per executed slot)."""
from __future__ import annotations

import numpy as np

from .base import Executed, MaskFormat
from .csr import fullest_column_steps


class Bitmap(MaskFormat):
    name = "bitmap"

    def execute(self, matrix, rows, cols) -> Executed:
        k = matrix.shape[0]
        k_exec = min(k, max(1, int(np.ceil(fullest_column_steps(matrix, cols)))))
        return Executed(k_exec, float(matrix.sum(0).mean()), k / k_exec)

    def stored(self, matrix, rows, cols):
        """Only the nonzeros, and one bit per dense position of the column."""
        nonzeros = max(float(matrix.sum(0).mean()), 1e-30)
        return nonzeros, matrix.shape[0] / nonzeros
