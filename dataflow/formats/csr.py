"""CSR per column: each column (an output channel in FF, an input position in BP) holds its own
nonzeros with ceil(log2 K)-bit row indices. A tile of C columns takes as many steps as its
fullest column, so the executed reduction is the mean over column tiles of that maximum (load
imbalance)."""
from __future__ import annotations

import numpy as np

from .base import Executed, MaskFormat


def fullest_column_steps(matrix: np.ndarray, cols: int) -> float:
    per_column = matrix.sum(0)
    return float(np.mean([per_column[j:j + cols].max() for j in range(0, len(per_column), cols)]))


class Csr(MaskFormat):
    name = "csr"

    def execute(self, matrix, rows, cols) -> Executed:
        k = matrix.shape[0]
        k_exec = min(k, max(1, int(np.ceil(fullest_column_steps(matrix, cols)))))
        return Executed(k_exec, float(matrix.sum(0).mean()), float(np.ceil(np.log2(k))))

    def stored(self, matrix, rows, cols):
        """Only the nonzeros, each with its row index (no padding to the fullest column)."""
        return float(matrix.sum(0).mean()), float(np.ceil(np.log2(matrix.shape[0])))
