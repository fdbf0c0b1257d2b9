"""The LLM showcase: load-as-sparse moves fewer bytes for the dense MACs, nothing beats its ideal
or its DRAM floor, every run's cycles are accounted for."""
from __future__ import annotations

import pytest

from sparseloom.apps.llm_showcase import evaluate, main
from sparseloom.reports.llm_showcase import _floor_cycles, _shares

from .conftest import ROOT


@pytest.fixture(scope="module")
def rows():
    return evaluate()


def test_load_as_sparse_moves_fewer_bytes_for_the_dense_macs(rows):
    for r in (r for r in rows if r["mode"] == "load-as-sparse"):
        t, d = r["result"].totals, r["dense"].totals
        assert t["dram_bytes"] < d["dram_bytes"], (r["preset"], r["phase"], r["nm"])
        assert t["macs"] == t["dense_macs"] == d["macs"]                 # compute-as-dense: every zero multiplied


def test_no_run_beats_its_ideal_or_its_floor_and_the_shares_add_up(rows):
    for r in rows:
        assert r["speedup"] <= r["iteration_ideal_speedup"] * (1 + 1e-9)
        assert r["result"].totals["cycles"] >= _floor_cycles(r["result"])
        assert sum(_shares(r["result"]).values()) == pytest.approx(1, abs=1e-9)


def test_load_as_sparse_wins_in_memory_bound_decode_and_loses_to_n_m_in_prefill(rows):
    pick = {(r["preset"], r["phase"], r["nm"], r["mode"]): r["speedup"] for r in rows}
    for preset in ("S4-class", "A100"):
        assert pick[(preset, "decode", "2:8", "load-as-sparse")] > 1.5
        assert pick[(preset, "prefill", "2:8", "load-as-sparse")] < 0.7 * pick[(preset, "prefill", "2:8", "N:M")]


def test_report_files(tmp_path):
    assert main(["-o", str(tmp_path)]) == 0
    text = (tmp_path / "llm.md").read_text()
    assert "model error" not in text and (tmp_path / "llm.png").stat().st_size > 10_000
    assert (ROOT / "reports" / "showcase" / "llm" / "llm.md").exists()
