"""Shared fixtures: the repository's presets and traces, and a helper to write edited copies."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SAT = ROOT / "arch" / "sat.yaml"
DENSE = ROOT / "arch" / "dense_systolic.yaml"
RESNET50_2OF8 = ROOT / "workloads" / "resnet50_2of8"


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
