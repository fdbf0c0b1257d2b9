"""A light table the simulator assembles its results in: named numpy columns of one length.

pandas is imported only where a caller asks for a DataFrame (:meth:`Table.frame`); the
simulation, its totals and the CLI's table, JSON and CSV views work on the arrays.
"""
from __future__ import annotations

import numpy as np

PHASE_ORDER = {"PRUNE": 0, "FF": 1, "BP": 2, "WU": 3, "UPDATE": 4}
"""The order of a layer's phases in an iteration's tables: the order they touch its weights."""


class Table:
    """Columns by name, in order, each a 1-D numpy array of the table's length (a scalar given
    for a column fills it)."""

    def __init__(self, columns: dict | None = None):
        columns = {name: np.asarray(v) for name, v in (columns or {}).items()}
        n = next((len(v) for v in columns.values() if v.ndim), 0)
        self.columns = {name: v if v.ndim else np.full(n, v) for name, v in columns.items()}

    @classmethod
    def _of(cls, columns: dict[str, np.ndarray]) -> "Table":
        """A table of these arrays as they are."""
        table = cls.__new__(cls)
        table.columns = columns
        return table

    def __repr__(self) -> str:
        return f"Table({len(self)} rows: {', '.join(self.columns)})"

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __setitem__(self, name: str, values) -> None:
        self.columns[name] = np.asarray(values) if np.ndim(values) else np.full(len(self), values)

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def copy(self) -> "Table":
        return Table._of({name: v.copy() for name, v in self.columns.items()})

    def select(self, names: list[str]) -> "Table":
        """These columns, in this order."""
        return Table._of({name: self.columns[name] for name in names})

    def take(self, index: np.ndarray) -> "Table":
        return Table._of({name: v[index] for name, v in self.columns.items()})

    def frame(self):
        """The table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.columns)

    @staticmethod
    def concat(tables: list["Table"]) -> "Table":
        """The rows of ``tables`` one after another (tables without columns are left out; the
        others have the same columns)."""
        tables = [t for t in tables if t.columns]
        if not tables:
            return Table()
        return Table._of({name: np.concatenate([t.columns[name] for t in tables]) for name in tables[0].columns})


def iteration_order(layer: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The rows' order layer by layer, phases as :data:`PHASE_ORDER` (stable)."""
    rank = np.array([PHASE_ORDER[p] for p in phase.tolist()], np.int64)
    return np.lexsort((rank, layer))
