"""Strict conversion of YAML mappings into typed, frozen dataclasses.

Every field is required unless the dataclass gives it a default. Unknown keys, missing keys,
wrong types and values a field's ``check`` rejects raise :class:`InputError` naming the file,
the dotted key path and the expectation. A dataclass may add cross-field checks in a
``problems()`` method that yields ``(key, expectation)`` pairs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import re
import reprlib
import types
from pathlib import Path
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from .errors import InputError
from .input_files import read_yaml_file


def check(predicate: Callable[[Any], bool], expectation: str) -> dict:
    """Field metadata: ``field(metadata=check(lambda v: v > 0, "a positive integer"))``."""
    return {"check": (predicate, expectation)}


def within(low: float, high: float, unit: str = "") -> dict:
    """Field metadata for a physical bound: ``low <= v <= high`` (``unit`` names what is counted)."""
    unit = f" {unit}" if unit else ""
    return check(lambda v: v is None or low <= v <= high, f"a number from {low:,} to {high:,}{unit}")


def positive(high: float, unit: str = "") -> dict:
    """Field metadata: ``0 < v <= high``."""
    unit = f" {unit}" if unit else ""
    return check(lambda v: v is None or 0 < v <= high, f"a number > 0 and at most {high:,}{unit}")


POSITIVE = check(lambda v: v > 0, "a number > 0")
NON_NEGATIVE = check(lambda v: v >= 0, "a number >= 0")
FRACTION = check(lambda v: 0 <= v <= 1, "a number between 0 and 1")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INT_LIMIT = 2 ** 63   # no integer of a file reaches int64's range, whatever its field


def read_yaml(path: str | Path) -> dict:
    """Read a YAML file (under :mod:`.input_files`' limits) whose top level must be a mapping."""
    data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise InputError(path, "", "expected a mapping of keys at the top level")
    return data


def load(cls: type, path: str | Path):
    """Read ``path`` and build an instance of dataclass ``cls`` from it."""
    return build(cls, read_yaml(path), str(path))


def build(cls: type, data: Any, file: str, where: str = ""):
    """Build dataclass ``cls`` from a mapping, strictly (see module docstring)."""
    if not isinstance(data, dict):
        raise InputError(file, where, f"expected a mapping with keys {_names(cls)}, got {_show(data)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise InputError(file, _join(where, unknown[0]), f"unknown key; expected one of {_names(cls)}")
    values = {}
    for name, f in fields.items():
        key = _join(where, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(file, key, f"missing key ({_describe(hints[name])} expected)")
            continue
        value = _convert(hints[name], data[name], file, key)
        if "check" in f.metadata:
            predicate, expectation = f.metadata["check"]
            if not predicate(value):
                raise InputError(file, key, f"expected {expectation}, got {_show(data[name])}")
        values[name] = value
    obj = cls(**values)
    for sub, expectation in getattr(obj, "problems", lambda: ())():
        raise InputError(file, _join(where, sub), expectation)
    return obj


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, evaluated once (its annotations are strings)."""
    return get_type_hints(cls)


def _convert(tp: Any, value: Any, file: str, key: str):
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return build(tp, value, file, key)
    if origin is Literal:
        if value not in args:
            raise InputError(file, key, f"expected one of {', '.join(map(str, args))}; got {_show(value)}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, file, key)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise InputError(file, key, f"expected a list of {_describe(args[0])}, got {_show(value)}")
        items = [_convert(args[0], v, file, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(file, key, f"expected a mapping, got {_show(value)}")
        return {_convert(args[0], k, file, key): _convert(args[1], v, file, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(file, key, f"expected a number, got {_show(value)}")
        if isinstance(value, int) and abs(value) >= INT_LIMIT or not math.isfinite(value):
            raise InputError(file, key, f"expected a finite number, got {_show(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(file, key, f"expected an integer, got {_show(value)}")
        if abs(value) >= INT_LIMIT:
            raise InputError(file, key, f"expected an integer of magnitude below 2**63, got {_show(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(file, key, f"expected true or false, got {_show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise InputError(file, key, f"expected a string, got {_show(value)}")
        bad = _CONTROL.search(value)
        if bad:
            raise InputError(file, key, f"expected text without control characters, found {bad.group()!r}")
        return value
    raise TypeError(f"typed_yaml cannot convert to {tp!r}")  # a schema bug, not user input


def _describe(tp: Any) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {_names(tp)}"
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple):
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", Any: "a value"}.get(tp, str(tp))


def _names(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and not key.startswith("[") else f"{where}{key}"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 50, 50, 40


def _show(value: Any) -> str:
    text = _REPR.repr(value)     # bounded: a huge value is never rendered in full
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["check", "within", "positive", "POSITIVE", "NON_NEGATIVE", "FRACTION", "read_yaml", "load", "build", "InputError"]
