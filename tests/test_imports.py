"""Data flows one way through the packages (DESIGN.md, "Layout"): no subpackage imports one above
it, and no modules import each other in a circle.

The source is read with ``ast``; nothing is imported. Every ``import sparseloom.x``, ``from ..x
import``, ``from . import`` (at module level or inside a function) counts, and so do
``importlib.import_module("sparseloom.x")`` and package data read with
``importlib.resources.files("sparseloom.x")``. The subpackages and their folders come from
``[tool.setuptools.package-dir]`` in pyproject.toml.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The layering, lowest first: a subpackage may import only subpackages on rows below its own
# (not its neighbours on the same row). apps, the top, may import everything.
LAYERS = [
    ["core", "sweeps"],      # sweeps: data only (the bundled specs)
    ["arch", "kernels"],
    ["workloads"],
    ["dataflow"],
    ["sim"],
    ["explore"],
    ["reports"],
    ["apps"],
]
# Beside the chain: rtl reads only these, and only the top row (apps) imports it.
SIDE = {"rtl": ["core", "arch", "kernels"]}
DYNAMIC = {"import_module", "__import__", "files"}   # calls whose "sparseloom.x" argument is a dependency


def allowed_imports() -> dict[str, set[str]]:
    allowed = {}
    for level, row in enumerate(LAYERS):
        below = {p for lower in LAYERS[:level] for p in lower}
        for package in row:
            allowed[package] = below | (set(SIDE) if level == len(LAYERS) - 1 else set())
    for package, reads in SIDE.items():
        allowed[package] = set(reads)
    return allowed


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """Subpackage name (``sim``) -> its folder, from pyproject's ``[tool.setuptools.package-dir]``."""
    text = (root / "pyproject.toml").read_text()
    section = re.search(r"^\[tool\.setuptools\.package-dir\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert section, "pyproject.toml has no [tool.setuptools.package-dir]"
    pairs = re.findall(r'^"sparseloom\.(\w+)"\s*=\s*"([^"]+)"', section.group(1), re.M)
    return {name: root / folder for name, folder in pairs}


@dataclass(frozen=True)
class Edge:
    source: str          # importing module, e.g. sparseloom.apps.simulate
    target: str          # imported module (or the nearest module/package the name resolves to)
    where: str           # file:line of the import
    kind: str            # "import" or the dynamic call's name


def modules(dirs: dict[str, Path]) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is_package) for every .py file under every subpackage's folder."""
    found = {}
    for package, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            is_package = parts[-1] == "__init__"
            name = ".".join(("sparseloom", package, *(parts[:-1] if is_package else parts)))
            found[name] = (path, is_package)
    return found


def _resolve(name: str, known: dict) -> str:
    """The longest prefix of a dotted name that is a known module (else the name itself)."""
    parts = name.split(".")
    for n in range(len(parts), 1, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return name


def import_edges(known: dict[str, tuple[Path, bool]], root: Path = ROOT) -> list[Edge]:
    edges = []
    for module, (path, is_package) in known.items():
        where = lambda node: f"{path.relative_to(root)}:{node.lineno}"  # noqa: E731
        package = module if is_package else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets, kind = [], "import"
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                # `from x import name`: name may be a submodule of x, or an attribute of x
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if func in DYNAMIC and isinstance(node.args[0].value, str):
                    targets, kind = [node.args[0].value], func
            for target in targets:
                if target == "sparseloom" or target.startswith("sparseloom."):
                    edges.append(Edge(module, _resolve(target, known), where(node), kind))
    return edges


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(edges: list[Edge], allowed: dict[str, set[str]]) -> list[str]:
    out = []
    for e in edges:
        src, dst = subpackage(e.source), subpackage(e.target)
        if src != dst and dst not in allowed.get(src, set()):
            out.append(f"{e.where}: {src} imports {dst} ({e.target}): {src} may import only "
                       f"{', '.join(sorted(allowed.get(src, ()))) or 'nothing in sparseloom'}")
    return out


def cycles(edges: list[Edge]) -> list[str]:
    """One concrete cycle per strongly connected component of the module graph, with the lines."""
    graph: dict[str, dict[str, Edge]] = {}
    for e in edges:
        if e.kind != "files" and e.source != e.target:   # reading package data is not an import
            graph.setdefault(e.source, {}).setdefault(e.target, e)
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def strongconnect(v: str) -> None:              # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    out = []
    for component in components:
        start = min(component)
        paths, seen = {start: [start]}, {start}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:           # shortest way from start back to start
            nxt = []
            for v in frontier:
                for w in sorted(graph.get(v, {})):
                    if w == start:
                        cycle = paths[v] + [start]
                        break
                    if w in component and w not in seen:
                        seen.add(w)
                        paths[w] = paths[v] + [w]
                        nxt.append(w)
                if cycle:
                    break
            frontier = nxt
        lines = [graph[a][b].where for a, b in zip(cycle, cycle[1:])]
        out.append(" -> ".join(cycle) + f"  (at {', '.join(lines)})")
    return out


def check(root: Path = ROOT) -> tuple[list[str], list[str]]:
    dirs = package_dirs(root)
    edges = import_edges(modules(dirs), root)
    return layer_violations(edges, allowed_imports()), cycles(edges)


def test_every_subpackage_has_a_place_in_the_layering():
    placed = [p for row in LAYERS for p in row] + list(SIDE)
    assert len(placed) == len(set(placed))
    assert set(package_dirs()) == set(placed), \
        f"pyproject's subpackages {sorted(package_dirs())} vs the layering {placed}: place new ones in LAYERS"


def test_no_subpackage_imports_one_above_it():
    violations, _ = check()
    layering = " < ".join(", ".join(row) for row in LAYERS) + \
        "".join(f"; {p} reads only {', '.join(r)}" for p, r in SIDE.items())
    assert not violations, f"imports against the layering ({layering}):\n" + "\n".join(violations)


def test_no_import_cycles():
    _, found = check()
    assert not found, "import cycles between modules:\n" + "\n".join(found)


def test_the_checks_see_a_violation_and_a_cycle(tmp_path):
    """The checker itself: on a small fake tree, an upward import (also inside a function, and as
    package data) and a two-module cycle are reported."""
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools.package-dir]\n"sparseloom.core" = "core"\n'
                                             '"sparseloom.sim" = "sim"\n"sparseloom.reports" = "reports"\n\n[x]\n')
    for folder in ("core", "sim", "reports"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "sim" / "run.py").write_text("from ..core import errors\n\ndef f():\n    from ..reports.table import t\n")
    (tmp_path / "sim" / "data.py").write_text("from importlib import resources\nresources.files('sparseloom.reports')\n")
    (tmp_path / "core" / "errors.py").write_text("from . import atomic\n")
    (tmp_path / "core" / "atomic.py").write_text("import sparseloom.core.errors\n")
    (tmp_path / "reports" / "table.py").write_text("from ..sim.run import f\n")
    violations, found = check(tmp_path)
    assert len(violations) == 2 and all("sim imports reports" in v for v in violations)
    assert any("sim/run.py:4" in v for v in violations) and any("sim/data.py:2" in v for v in violations)
    assert sorted(found) == sorted([
        "sparseloom.core.atomic -> sparseloom.core.errors -> sparseloom.core.atomic  (at core/atomic.py:1, core/errors.py:1)",
        "sparseloom.reports.table -> sparseloom.sim.run -> sparseloom.reports.table  (at reports/table.py:1, sim/run.py:4)",
    ])
