"""Results kept as numpy columns (:mod:`sparseloom.sim.records`): the simulate command's modules load
no pandas, and the totals, the JSON and the CSV made from the arrays equal what pandas made from
the same results before (pandas is the reference here: its encoder, its CSV writer, its sums)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import load_arch
from sparseloom.reports.table import _csv, _encoded_float, csv_text, json_text, side_csv_text, text_table
from sparseloom.sim.columns import STALL_CAUSES, is_integer, total_names
from sparseloom.sim.records import PHASE_ORDER, Table, iteration_order
from sparseloom.sim.simulate import simulate, speedup_over_dense
from sparseloom.workloads.trace import load_workload

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "matplotlib", "simpy", "numba", "amaranth")


def test_the_simulate_commands_modules_import_no_heavy_library():
    code = ("import sys, sparseloom.sim.simulate, sparseloom.reports.table, sparseloom.reports.explain, "
            "sparseloom.reports.run, sparseloom.sim.run, sparseloom.sim.ablation; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module", params=[("sat", "resnet9_2of8", "analytic"), ("sat", "resnet9_2of8", "event"),
                                        ("s4", "minilm_1of32", "analytic"), ("sat", "minilm_unstructured_125", "analytic")])
def result(request):
    arch, trace, fidelity = request.param
    return simulate(load_arch(ROOT / "arch" / f"{arch}.yaml"), load_workload(ROOT / "workloads" / trace), fidelity)


def _integral(frame: pd.DataFrame) -> pd.DataFrame:
    """What the JSON and CSV views did before: whole-valued float counts as Int64."""
    whole = [c for c in frame.columns if is_integer(c) and frame[c].dtype.kind == "f" and (frame[c].dropna() % 1 == 0).all()]
    return frame.astype({c: "Int64" for c in whole})


def test_json_and_csv_tables_equal_pandas_writers(result):
    payload = json.loads(json_text(result, speedup_over_dense(result.arch, result.workload, result)))
    for name, frame in (("gemms", result.gemms), ("side", result.side)):
        assert payload[name] == json.loads(_integral(frame).to_json(orient="records")), name
    assert csv_text(result) == _integral(result.gemms).to_csv(index=False)
    assert side_csv_text(result) == _integral(result.side).to_csv(index=False)


def test_totals_equal_pandas_sums_of_the_tables(result):
    """The totals from the arrays equal the same sums taken by pandas over the DataFrames, value
    and type (int, float or numpy float), so the JSON is unchanged."""
    g, s = result.gemms, result.side
    t = result.totals
    vector, side_jobs, on_array = s[s.engine == "vector"], s[s.engine != "vector"], g[g.engine == "array"]
    pe_cycles = result.arch.pes * t["cycles"]
    expected = {
        "array_cycles": int(g.cycles.sum()), "macs": int(g.macs.sum()), "dense_macs": int(g.dense_macs.sum()),
        "vector_busy_cycles": int((vector.cycles - vector.stall_control).sum()),
        "utilisation": on_array.macs.sum() / pe_cycles, "effective_utilisation": on_array.useful_macs.sum() / pe_cycles,
        "dram_bytes": float(sum(x.dram_read_bytes.sum() + x.dram_write_bytes.sum() for x in (g, s))),
        "compulsory_bytes": float(g.compulsory_bytes.sum() + s.compulsory_bytes.sum()),
        "energy_compute_uj": float(g.energy_compute_pj.sum()) / 1e6,
        "energy_dram_uj": float(g.energy_dram_pj.sum() + s.energy_dram_pj.sum()) / 1e6,
        "energy_vector_uj": float(vector.energy_side_pj.sum()) / 1e6,
        "energy_side_uj": float(side_jobs.energy_side_pj.sum()) / 1e6,
        **{f"stall_{c}": int(g[f"stall_{c}"].sum()) for c in STALL_CAUSES if c not in ("pruning", "update", "vector", "dram")},
    }
    for name, value in expected.items():
        assert t[name] == value and type(t[name]) is type(value), name
    assert tuple(t) == total_names()


def test_printed_rows_follow_the_rows_frame(result):
    """The text view's rows (from the arrays) are Result.rows' (pandas concat and sort), in order."""
    text = text_table(result, speedup_over_dense(result.arch, result.workload, result), layers=True)
    rows = result.rows
    body = text.split("\n\n")[1].splitlines()[3:]
    assert len(body) == len(rows)
    assert [line[24:31].strip() for line in body] == list(rows.phase)
    assert [line[:23].strip() for line in body if not line.startswith("  >")] == \
        [name[:23] for name, engine in zip(rows.name, rows.engine) if engine != "vector"]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_json_floats_as_pandas_encodes_them(value):
    assert _encoded_float(value) == json.loads(pd.DataFrame({"x": [value]}).to_json(orient="records"))[0]["x"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(-2**62, 2**62), st.floats(allow_nan=False),
                          st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)),
                min_size=1, max_size=6))
def test_csv_rows_as_pandas_writes_them(values):
    """Rows like totals.csv's (its values always hold text and flags, so pandas kept them as objects)."""
    rows = [("provenance.arch", "SAT, 2:8", ""), ("above_ideal", False, "bool")] + [(f"n{i}", v, "u") for i, v in enumerate(values)]
    assert _csv(["name", "value", "unit"], rows) == pd.DataFrame(rows, columns=["name", "value", "unit"]).to_csv(index=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(list(PHASE_ORDER))), max_size=40))
def test_iteration_order_is_pandas_stable_sort(keys):
    frame = pd.DataFrame({"layer": [k[0] for k in keys], "phase": [k[1] for k in keys]})
    expected = frame.sort_values(["layer", "phase"], kind="stable",
                                 key=lambda s: s.map(PHASE_ORDER) if s.name == "phase" else s).index.to_numpy()
    order = iteration_order(frame.layer.to_numpy(), frame.phase.to_numpy(dtype=object))
    assert (order == expected).all()


def test_table_fills_scalars_and_concatenates_rows():
    t = Table({"a": np.arange(3), "b": 0, "c": "x"})
    assert t["b"].tolist() == [0, 0, 0] and t["c"].tolist() == ["x"] * 3 and len(t) == 3
    both = Table.concat([Table(), t, t.take(np.array([2]))])
    assert both["a"].tolist() == [0, 1, 2, 2] and both.names == ["a", "b", "c"]
    pd.testing.assert_frame_equal(both.frame(), pd.DataFrame({"a": [0, 1, 2, 2], "b": [0] * 4, "c": ["x"] * 4}))
