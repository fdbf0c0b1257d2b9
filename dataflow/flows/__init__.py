"""The dataflows, one module each, behind one interface (:class:`.base.Dataflow`).

``FLOWS`` maps the arch file's names to the implementations; :func:`per_flow` is the one place
that splits a GEMM table by dataflow: it calls a method of each GEMM's dataflow on that
dataflow's rows and puts the results back in table order. A new dataflow is a new module here
plus its entry in ``FLOWS``.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass

import numpy as np

from .base import ArrayTiming, Dataflow, Machine, Reuse, Shape
from .input_stationary import InputStationary
from .output_stationary import OutputStationary
from .vector_lanes import VectorLanes
from .weight_stationary import WeightStationary

FLOWS: dict[str, Dataflow] = {f.name: f for f in (WeightStationary(), OutputStationary(), InputStationary(),
                                                  VectorLanes())}
NAMES = tuple(name for name in FLOWS if name != "vector_lanes")
"""The systolic array's dataflows (what ``array.dataflows`` may list); ``vector_lanes`` maps a GEMM
onto the vector engine instead (:attr:`Arch.mapping_dataflows`)."""


def flow(name: str) -> Dataflow:
    return FLOWS[str(name)]


_ORDER = tuple(FLOWS.values())
CODES = {name: code for code, name in enumerate(FLOWS)}
"""Each dataflow's code (:func:`flow_codes`)."""


def flow_codes(dataflow: np.ndarray) -> np.ndarray:
    """Per GEMM, the position of its dataflow (a name) in ``FLOWS``: the small integers
    :func:`per_flow` splits by (comparing text is slow)."""
    dataflow = np.asarray(dataflow)
    codes = np.full(len(dataflow), -1, np.int8)
    rest = np.arange(len(dataflow))     # rows not yet placed; each name compared with those only
    for code, name in enumerate(FLOWS):
        here = dataflow.take(rest) == name        # take: fast on text
        codes[rest[here]] = code
        rest = rest[~here]
        if not len(rest):
            return codes
    unknown = set(dataflow.take(rest).tolist())
    raise ValueError(f"unknown dataflow(s) {sorted(unknown)}; expected one of {', '.join(FLOWS)}")


_NAMES_BY_CODE = np.array(list(FLOWS))


def flow_names(codes: np.ndarray) -> np.ndarray:
    """The dataflow names of :func:`flow_codes`."""
    return _NAMES_BY_CODE.take(codes)


def per_flow(dataflow: np.ndarray, call):
    """``call(flow, index)`` for each dataflow present (``index``: its positions in ``dataflow``,
    names or :func:`flow_codes`; a slice where the rows come grouped by dataflow), results
    (arrays, a row per GEMM for 2-d ones, dicts of arrays or dataclasses of arrays) scattered
    back into one."""
    dataflow = np.asarray(dataflow)
    codes = dataflow if dataflow.dtype.kind in "iu" else flow_codes(dataflow)
    if not len(codes) or codes.min() == codes.max():     # one dataflow (or no GEMM): no split
        return call(_ORDER[codes[0]] if len(codes) else _ORDER[0], slice(None))
    if (codes[1:] >= codes[:-1]).all():                   # grouped: each dataflow's rows a slice
        bounds = np.searchsorted(codes, np.arange(len(_ORDER) + 1)).tolist()
        parts = [(slice(start, stop), f) for start, stop, f in zip(bounds, bounds[1:], _ORDER) if stop > start]
    else:
        parts = [(index, f) for index, f in ((np.flatnonzero(codes == code), f) for code, f in enumerate(_ORDER))
                 if len(index)]
    return _merge([(index, call(f, index)) for index, f in parts], len(codes))


def rows_of(table, index, **columns):
    """Rows ``index`` (from :func:`per_flow`) of a GEMM table (``columns`` given instead of
    gathered) or of a dataclass of per-GEMM arrays. Rows of such rows are rows of their table,
    the columns given to them carried."""
    if isinstance(index, slice):
        if not columns and index == slice(None):
            return table
        if hasattr(table, "take"):
            index = np.arange(len(table))[index]
    if isinstance(table, _Rows):
        return _Rows(table._table, table._index[index], {name: getattr(table, name)[index] for name in table._given} | columns)
    if hasattr(table, "take"):
        return _Rows(table, index, columns)
    return type(table)(**{name: ({k: v[index] for k, v in value.items()} if isinstance(value, dict) else value[index])
                          for name, value in vars(table).items()})


class _Rows:
    """Rows ``index`` of a GEMM table, each column not given gathered when first read (a
    dataflow's method reads a few of the table's columns); :meth:`take` makes a table of some."""

    def __init__(self, table, index, columns: dict):
        self._table, self._index, self._given = table, index, frozenset(columns)
        vars(self).update(columns)

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "flow_code" and "dataflow" in self._given:     # the codes of the dataflows given
            column = flow_codes(self.dataflow)
        elif name == "dataflow" and "flow_code" in self._given:   # the names of the codes given
            column = flow_names(self.flow_code)
        else:
            column = getattr(self._table, name).take(self._index)     # positions: faster than [] on text
        setattr(self, name, column)
        return column

    def __len__(self) -> int:
        return len(self._index)

    def take(self, index: np.ndarray, **columns: np.ndarray):
        """The GEMM table of rows ``index`` of these, with ``columns`` given instead of gathered."""
        known = {name: value[index] for name, value in vars(self).items() if not name.startswith("_")}
        if "flow_code" in self._given and "dataflow" not in known:     # the names of these rows only
            known["dataflow"] = flow_names(known["flow_code"])
        if "dataflow" in columns:
            known.pop("flow_code", None)
        return self._table.take(self._index[index], **(known | columns))


def _merge(results, size):
    first = results[0][1]
    if isinstance(first, dict):
        return {key: _merge([(i, r[key]) for i, r in results], size) for key in first}
    if is_dataclass(first):
        return type(first)(**{f.name: _merge([(i, getattr(r, f.name)) for i, r in results], size)
                              for f in fields(first)})
    dtype = np.result_type(*[np.asarray(r).dtype for _, r in results])
    if np.ndim(first) == 2:            # a row per GEMM: rows padded with 0 to the widest
        out = np.zeros((size, max(np.shape(r)[1] for _, r in results)), dtype)
        for index, values in results:
            out[index, :values.shape[1]] = values
        return out
    out = np.zeros(size, dtype)
    for index, values in results:
        out[index] = values            # a scalar broadcasts
    return out


__all__ = ["FLOWS", "NAMES", "CODES", "flow", "flow_codes", "flow_names", "per_flow", "rows_of", "ArrayTiming", "Dataflow", "Machine", "Reuse", "Shape"]
