"""Import another checkout of sparseloom in this interpreter, for the benchmarks' ``--baseline SRC``."""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path


def shim(source: Path) -> Path:
    """A folder holding ``sparseloom/`` laid out from ``source``'s ``[tool.setuptools.package-dir]``
    (symlinks), to put first on ``sys.path`` so that checkout is the one imported."""
    text = (source / "pyproject.toml").read_text()
    section = re.search(r"^\[tool\.setuptools\.package-dir\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M).group(1)
    top = Path(tempfile.mkdtemp(prefix="sparseloom_shim_"))
    package = top / "sparseloom"
    package.mkdir()
    for name, folder in re.findall(r'^"sparseloom(?:\.(\w+))?"\s*=\s*"([^"]+)"', section, re.M):
        if name:
            (package / name).symlink_to(source / folder)
        else:
            for entry in (source / folder).iterdir():    # the package's own files (its __init__)
                if entry.is_file():
                    (package / entry.name).symlink_to(entry)
    return top


def import_checkout(source: Path) -> None:
    """Make ``import sparseloom`` in this interpreter load the checkout under ``source``."""
    sys.path.insert(0, str(shim(source)))
