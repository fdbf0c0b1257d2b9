"""Shared fixtures: the repository's presets and traces, and helpers to write edited copies."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SAT = ROOT / "arch" / "sat.yaml"
DENSE = ROOT / "arch" / "dense_systolic.yaml"
RESNET50_2OF8 = ROOT / "workloads" / "resnet50_2of8"


@pytest.fixture(autouse=True, scope="session")
def _verdicts_kept_apart(tmp_path_factory):
    """The checks the tests pass are kept in a folder of the session's own, never the user's cache."""
    before = os.environ.get("SPARSELOOM_CACHE")
    os.environ["SPARSELOOM_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("SPARSELOOM_CACHE")
    else:
        os.environ["SPARSELOOM_CACHE"] = before


@pytest.fixture
def sat_data() -> dict:
    return yaml.safe_load(SAT.read_text())


@pytest.fixture
def write_yaml(tmp_path):
    def write(data: dict, name: str = "arch.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def trace_copy(tmp_path):
    """A copy of the ResNet-50 2:8 trace folder to edit."""
    return copy_trace(tmp_path, RESNET50_2OF8)


def copy_trace(tmp_path: Path, source: Path) -> Path:
    folder = tmp_path / "trace"
    shutil.copytree(source, folder)
    return folder


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in the file with ``new`` (``old`` must be there)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
