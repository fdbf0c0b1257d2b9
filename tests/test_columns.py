"""Every result holds to the declared schema (``sim.columns``): the same columns in the same
order, every total, and the sweep offers exactly the totals as metrics."""
from __future__ import annotations

import pytest

from sparseloom.arch.schema import load_arch
from sparseloom.explore.spec import METRICS
from sparseloom.sim.columns import SIDE, TOTALS, gemm_columns, side_columns, total_names
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import load_workload

from .conftest import RESNET50_2OF8, ROOT, SAT


@pytest.mark.parametrize("fidelity", ["analytic", "event"])
@pytest.mark.parametrize("mode", ["training", "inference"])
def test_results_hold_to_the_declared_columns(fidelity, mode):
    from dataclasses import replace

    arch, w = load_arch(SAT), load_workload(RESNET50_2OF8)
    w = replace(w, meta=replace(w.meta, mode=mode))
    r = simulate(arch, w, fidelity)
    assert list(r.gemms.columns) == gemm_columns([b.name for b in arch.buffers])
    assert list(r.side.columns) == side_columns()
    assert r.side.engine.isin(["pruning", "update"]).any() == (mode == "training")
    assert set(r.side[r.side.engine == "vector"].phase) == ({"FF", "BP"} if mode == "training" else {"FF"})
    assert tuple(r.totals) == total_names()
    assert not r.gemms.isna().any().any() and not r.side.isna().any().any()


def test_units_are_declared_and_the_sweep_offers_every_total():
    assert all(c.unit and c.meaning for c in TOTALS + SIDE)
    assert set(total_names()) <= set(METRICS) and "energy_side_uj" in METRICS
    assert len(set(total_names())) == len(TOTALS)


def test_side_energy_is_counted_in_the_total():
    r = simulate(load_arch(SAT), load_workload(ROOT / "workloads" / "resnet50_2of8"))
    parts = ("energy_compute_uj", "energy_movement_uj", "energy_buffer_uj", "energy_dram_uj", "energy_vector_uj", "energy_side_uj")
    assert r.totals["energy_uj"] == pytest.approx(sum(r.totals[p] for p in parts))
    vector = r.side.engine == "vector"
    assert r.totals["energy_side_uj"] == pytest.approx(r.side.energy_side_pj[~vector].sum() / 1e6) and r.totals["energy_side_uj"] > 0
    assert r.totals["energy_vector_uj"] == pytest.approx(r.side.energy_side_pj[vector].sum() / 1e6) and r.totals["energy_vector_uj"] > 0
