"""Import another checkout of sparseloom in this interpreter, for the benchmarks' ``--baseline SRC``."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
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


class Baseline:
    """``script --worker SRC`` in a second interpreter: it answers each request line with one JSON
    line, measured with the checkout under ``SRC`` (``--baseline SRC`` of the benchmarks)."""

    def __init__(self, script: str, source: Path):
        self.process = subprocess.Popen([sys.executable, script, "--worker", str(source.resolve())],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, request: str) -> dict:
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def benchmark_arguments(description: str, runs: int, cases, calls: bool = False) -> argparse.Namespace:
    """The benchmarks' common options: --runs, --cases, --baseline SRC (and the hidden --worker);
    with ``calls``, --calls K (calls back to back per run)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs)
    if calls:
        parser.add_argument("--calls", type=int, default=1, help="calls back to back per run (their median)")
    parser.add_argument("--cases", nargs="+", choices=list(cases), default=list(cases))
    parser.add_argument("--baseline", type=Path, help="root of another sparseloom checkout to compare with")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()
