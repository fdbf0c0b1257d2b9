"""The SAT training report: numbers straight from the simulator, the gap split exactly by cause."""
from __future__ import annotations

import pytest

from sparseloom.apps.sat_training import CATEGORIES, cycle_categories, evaluate, main

from .conftest import ROOT


def test_categories_add_up_and_gap_is_exact():
    for r in evaluate("analytic"):
        for kind in ("sparse", "dense"):
            categories = cycle_categories(r[kind])
            assert set(categories) == set(CATEGORIES)
            assert sum(categories.values()) == pytest.approx(r[kind].totals["cycles"])
        ideal_cycles = r["dense"].totals["cycles"] / r["ideal"]
        assert sum(r["gap"].values()) == pytest.approx(r["sparse"].totals["cycles"] - ideal_cycles)
        assert r["gap"]["useful MACs"] == pytest.approx(0, abs=1e-6 * ideal_cycles)
        assert 1 < r["speedup"] <= r["iteration_ideal"] < r["ideal"] <= 2   # Amdahl: non-GEMM work stays


def test_report_files(tmp_path):
    assert main(["-o", str(tmp_path), "--fidelity", "analytic"]) == 0
    text = (tmp_path / "sat_training.md").read_text()
    assert "ResNet-50 (ImageNet)" in text and "| model |" in text and "analytic fidelity" in text
    assert (tmp_path / "sat_training.png").read_bytes()[:4] == b"\x89PNG"


def test_showcase_is_committed():
    assert (ROOT / "reports" / "showcase" / "sat_training.md").exists()
