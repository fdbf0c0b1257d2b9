"""A design point's arch: the base arch file with the point's values set, built without redoing
the checks of what the values leave alone.

:func:`~sparseloom.core.typed_yaml.build` converts and checks every field on its own, in field
order, and then runs each dataclass's ``problems()`` on that dataclass's own fields. A top-level
field whose data a point leaves alone (the same object: :func:`.spec.with_values` copies only the
containers on the changed paths) converts to the base arch's value. So a variant converts and
checks only the changed top-level fields, each by ``build`` on a dataclass of that one field (its
type and check: the same key paths and messages as the whole arch's build), puts them into the base
arch with :func:`dataclasses.replace` and runs :meth:`Arch.problems`: the arch, or the first error,
that building the whole file gives.
"""
from __future__ import annotations

from dataclasses import field, fields, make_dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

from ..arch.schema import Arch
from ..core.errors import InputError
from ..core.reuse import kept
from ..core.typed_yaml import build, read_yaml
from .spec import with_values


FIELDS_KEPT = 256
"""Built top-level fields kept per arch file (a sweep sets a few values of a few fields)."""


@cache
def _one_field(name: str) -> type:
    """A dataclass of the Arch's field ``name`` alone, of its type and with its check."""
    f = next(f for f in fields(Arch) if f.name == name)
    return make_dataclass(f"Arch_{name}", [(name, get_type_hints(Arch)[name], field(metadata=f.metadata))])


class ArchVariants:
    """Archs that differ from the arch file ``path`` in a few dotted values."""

    def __init__(self, path: Path):
        self.file, self.data = str(path), read_yaml(path)
        self._built: dict = {}
        try:
            self.base: Arch | None = build(Arch, self.data, self.file)
        except InputError:    # the values may repair it: each variant is built whole
            self.base = None

    def arch(self, values: dict[str, Any], where: str) -> Arch:
        """The arch with ``values`` set; an error names ``where`` (the point) as a whole build's does."""
        data = with_values(self.data, values)
        if self.base is None:
            return build(Arch, data, self.file, where)
        changed = {}
        for name in (f.name for f in fields(Arch)):
            if data.get(name) is not self.data.get(name):
                changed[name] = self._field(name, data[name], where)
        arch = replace(self.base, **changed)
        for key, expectation in arch.problems():
            raise InputError(self.file, f"{where}.{key}" if where else key, expectation)
        return arch

    def _field(self, name: str, value: Any, where: str):
        """Field ``name`` of value ``value`` converted and checked; the last values that built are
        kept by their repr (YAML's values: it tells 1, 1.0 and True apart)."""
        return kept(self._built, FIELDS_KEPT, (name, repr(value)),
                    lambda: getattr(build(_one_field(name), {name: value}, self.file, where), name))
