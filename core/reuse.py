"""Stage results shared between simulations whose inputs to that stage are equal.

A sweep's design points differ in a few arch values, and most stages of a simulation read only
some of the arch: the GEMM table and the candidate mappings read the array's shape, dataflows
and datatypes, the sparsity and the buffers' capacities, never the PE's pipeline depth, the
DRAM or the clock. Inside :func:`reusing` (a sweep worker opens it around its points),
:func:`reused` keeps a stage's result by what the stage reads: the objects it is given, by
identity (the store holds them, so no other object can take their identity), and the value of
each arch value it names: a field (``"array"``; a dataclass's repr lists every value it holds),
a property (``"operand_bytes"``) or a sub-field (``"array.rows"``,
``"vector_engine.cycles_per_element.mac"``; through a list field, that sub-field of each item:
``"buffers.size_kib"``). Outside, every stage runs every time, so a single ``simulate()`` costs
what its work costs.

A kept result is shared by every simulation that asks for it again: its numpy arrays are made
read-only, so a write into one fails instead of changing another point's result. Each stage's
names are checked by ``tests/test_reuse.py``, which runs the stage on an arch that refuses every
value it does not name (down to the sub-fields), and compares simulations with reuse to fresh
ones, among them archs that differ only in values a stage leaves out.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from operator import attrgetter
from typing import Callable, TypeVar

import numpy as np

T = TypeVar("T")
KEPT = 32
"""Results kept (the one used longest ago goes first): a few design points' worth of every stage."""

_store: dict = {}        # shared by the process's threads (a Dask worker runs several), under _lock
_lock = threading.Lock()
_getters: dict[str, Callable] = {}   # by name, what reads it (:func:`_getter`)
_local = threading.local()   # per thread: how many reusing() are open, the last arch's reprs by names and by name


@contextmanager
def reusing():
    """Reuse stage results inside (in this thread). The :data:`KEPT` results used last stay for the
    next time one is opened in this process (a sweep worker opens one per batch of points)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def reused(stage: str, given: tuple, arch, names: tuple[str, ...], make: Callable[[], T], *values) -> T:
    """``make()``, or inside :func:`reusing` the result it gave for the same ``stage``, the same
    objects ``given``, equal values of ``arch``'s ``names`` (fields, properties or dotted
    sub-fields: everything the stage reads from the arch) and equal ``values`` (hashable: the
    rest of what it reads)."""
    if not getattr(_local, "depth", 0):
        return make()
    key = (stage, tuple(map(id, given)), _reprs(arch, names), values)
    with _lock:
        hit = _store.pop(key, None)
        if hit is not None:
            _store[key] = hit           # the newest again: a result every point uses stays
    if hit is not None:
        return hit[1]
    value = _read_only(make())
    with _lock:
        return kept(_store, KEPT, key, lambda: (given, value))[1]


def kept(store: dict, limit: int, key, make: Callable[[], T]) -> T:
    """``make()``, reused for an equal ``key`` while it is among the store's ``limit`` newest (a
    ``make()`` that raises keeps nothing)."""
    if key not in store:
        value = make()
        if len(store) >= limit:
            del store[next(iter(store))]
        store[key] = value
    return store[key]


def _reprs(arch, names: tuple[str, ...]) -> tuple[str, ...]:
    """The repr of each of ``arch``'s ``names`` (:func:`_value`), made once per name and ``names``
    for the thread's last arch (a simulation's stages share one, and many of their names)."""
    last = getattr(_local, "reprs", None)
    if last is None or last[0] is not arch:
        last = _local.reprs = (arch, {}, {})
    _, by_names, by_name = last
    reprs = by_names.get(names)
    if reprs is None:
        for name in names:
            if name not in by_name:
                by_name[name] = repr(_value(arch, name))
        reprs = by_names[names] = tuple([by_name[name] for name in names])
    return reprs


def _value(arch, name: str):
    """``arch.<name>`` for a dotted ``name``; past a list field, the rest of the name of each item."""
    get = _getters.get(name)
    if get is None:
        get = _getters[name] = _getter(arch, name)
    return get(arch)


def _getter(arch, name: str) -> Callable:
    """What reads ``name`` from an arch: an attribute chain, or where its first part is a list field
    (in ``arch``; the schema's types make it one in every arch), the rest from each item. A name
    that passes a list anywhere else fails to read, never reads another value."""
    head, _, rest = name.partition(".")
    if rest and isinstance(getattr(arch, head), list):
        items, each = attrgetter(head), attrgetter(rest)
        return lambda arch: [each(item) for item in items(arch)]
    return attrgetter(name)


def _read_only(value):
    """``value`` with the numpy arrays it holds (directly, or in the tuples, lists, dicts and
    dataclasses it holds) made read-only."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _read_only(item)
    elif isinstance(value, dict):
        for item in value.values():
            _read_only(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            _read_only(getattr(value, f.name))
    return value
