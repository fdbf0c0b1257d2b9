"""The presets, traces and sweep specs shipped inside the package, found by name.

``sat``, ``sat.yaml`` and ``arch/sat.yaml`` all name the bundled SAT preset, in a checkout and in
an installed wheel alike. A path that exists is used as it is, so a user's own (or edited) file
always wins over a bundled one of the same name.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class Kind:
    package: str      # the subpackage holding the bundled files
    folder: str       # its folder name in a checkout (``arch/sat.yaml``)
    suffix: str       # ".yaml" for files; "" for trace folders
    what: str         # for messages


KINDS = {"arch": Kind("sparseloom.arch", "arch", ".yaml", "preset"),
         "workload": Kind("sparseloom.workloads", "workloads", "", "trace"),
         "sweep": Kind("sparseloom.sweeps", "sweeps", ".yaml", "sweep spec")}


def folder(kind: str) -> Path:
    """Where the bundled files of ``kind`` live (the checkout's folder under an editable install);
    found without importing the subpackage's code."""
    spec = importlib.util.find_spec(KINDS[kind].package)
    return Path(next(iter(spec.submodule_search_locations)))


def names(kind: str) -> list[str]:
    """The bundled names of ``kind``, sorted."""
    base, k = folder(kind), KINDS[kind]
    if k.suffix:
        return sorted(p.stem for p in base.glob(f"*{k.suffix}"))
    return sorted(p.name for p in base.iterdir() if (p / "layers.csv").is_file())


def resolve(kind: str, text: str | Path) -> Path:
    """``text`` as a path if it exists, else the bundled file it names; an InputError when it is neither."""
    path = Path(text)
    if path.exists():
        return path
    k = KINDS[kind]
    parts = path.parts
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == k.folder):
        name = parts[-1].removesuffix(k.suffix) if k.suffix else parts[-1]
        if name in names(kind):
            return folder(kind) / f"{name}{k.suffix}"
    expected = "expected a workload folder" if kind == "workload" else "file not found"
    raise InputError(text, "", f"{expected}, or the name of a bundled {k.what} (`simulate --list` shows them)")


def listing() -> str:
    """What ``simulate --list`` prints: every bundled name by kind, with how to use it."""
    usage = {"arch": "presets (simulate PRESET TRACE)", "workload": "traces", "sweep": "sweep specs (sweep SPEC)"}
    lines = []
    for kind in KINDS:
        lines += [f"{usage[kind]}:", *_wrapped(names(kind)), ""]
    lines.append(f"bundled in {folder('arch').parent}")
    return "\n".join(lines)


def _wrapped(items: list[str], width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(", ".join(items), width, initial_indent="  ", subsequent_indent="  ")
