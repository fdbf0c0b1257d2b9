"""Block: the R-row blocks of a column tile that are all zero are skipped; the others run dense.
Metadata: one bit per tile."""
from __future__ import annotations

import numpy as np

from .base import Executed, MaskFormat


class Block(MaskFormat):
    name = "block"

    def execute(self, matrix, rows, cols) -> Executed:
        k = matrix.shape[0]
        padded = np.zeros((-(-k // rows) * rows, matrix.shape[1]), bool)
        padded[:k] = matrix
        blocks = padded.reshape(-1, rows, matrix.shape[1]).any(1)
        tiles = [blocks[:, j:j + cols].any(1).sum() * rows for j in range(0, matrix.shape[1], cols)]
        k_exec = min(k, max(1, int(np.ceil(np.mean(tiles)))))
        return Executed(k_exec, float(matrix.sum(0).mean()), 1 / (rows * cols))
