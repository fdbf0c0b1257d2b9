"""The `simulate` command: formats, output files, and clear errors instead of tracebacks."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from sparseloom.apps.simulate import main

from .conftest import DENSE, RESNET50_2OF8, SAT


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table(capsys):
    code, out, _ = run(capsys, SAT, RESNET50_2OF8, "--layers")
    assert code == 0
    for text in ("arch      SAT", "bdwp 2:8", "layer1.0.conv2", "cycles", "speedup", "ideal", "dense-equivalent"):
        assert text in out
    assert out.count("\n") > 54 * 3


def test_csv_matches_json(capsys, tmp_path):
    _, out, _ = run(capsys, SAT, RESNET50_2OF8, "--format", "csv", "-o", tmp_path / "res")
    table = pd.read_csv(io.StringIO(out))
    assert set(table.phase) == {"FF", "BP", "WU"} and set(table.engine) == {"array"}
    side = pd.read_csv(tmp_path / "res" / "side_engines.csv")
    assert set(side.phase) == {"PRUNE", "UPDATE", "FF", "BP"} and not side.isna().any().any()   # no NaN-padded GEMM columns
    assert set(side[side.engine == "vector"].phase) == {"FF", "BP"}
    summary = json.loads((tmp_path / "res" / "summary.json").read_text())
    totals = summary["totals"]
    assert totals["cycles"] >= table.cycles.sum()
    # the iteration is its GEMM rows plus what the other engines add beyond them
    beyond = sum(totals[f"stall_{c}"] - (table[f"stall_{c}"].sum() if f"stall_{c}" in table else 0)
                 for c in ("pruning", "update", "vector"))
    assert totals["cycles"] == table.cycles.sum() + beyond
    assert len(summary["gemms"]) == len(table) and len(summary["side"]) == len(side)
    assert pd.read_csv(tmp_path / "res" / "gemms.csv").equals(table)


def test_batch_override(capsys):
    _, out1, _ = run(capsys, SAT, RESNET50_2OF8, "--batch", "1", "--format", "json")
    _, out32, _ = run(capsys, SAT, RESNET50_2OF8, "--format", "json")
    one, many = json.loads(out1), json.loads(out32)
    assert one["batch_size"] == 1 and many["totals"]["dense_macs"] == 32 * one["totals"]["dense_macs"]


def test_dense_arch_notes_unsupported_patterns(capsys):
    _, out, _ = run(capsys, DENSE, RESNET50_2OF8)
    assert "GEMMs with 2:8 weights run as dense" in out


def test_event_fidelity_with_timeline(capsys, tmp_path):
    code, out, _ = run(capsys, SAT, RESNET50_2OF8, "--fidelity", "event", "--timeline", tmp_path / "t.json")
    assert code == 0 and "event fidelity" in out
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert (tmp_path / "t.png").exists()


@pytest.mark.parametrize("args, message", [
    ([SAT, RESNET50_2OF8, "--timeline", "t.json"], "a timeline needs --fidelity event"),
    (["nothere.yaml", RESNET50_2OF8], "nothere.yaml: file not found"),
    ([SAT, "workloads/nothere"], "expected a workload folder"),
    ([SAT, RESNET50_2OF8, "--batch", "0"], "--batch"),
])
def test_errors_are_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def test_console_script_reports_bad_arch_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SAT.read_text().replace("rows: 32", "rows: many"))
    proc = subprocess.run([sys.executable, "-m", "sparseloom.apps.simulate", str(bad), str(RESNET50_2OF8)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{bad}: array.rows: expected an integer, got 'many'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("extra, named", [
    (["--ablation", "--format", "csv"], "--format"),
    (["--ablation", "-o", "out"], "-o"),
    (["--ablation", "--explain", "conv1"], "--explain"),
    (["--explain", "conv1", "--format", "json"], "--format"),
])
def test_options_that_do_not_apply_together_are_refused(capsys, extra, named):
    code, out, err = run(capsys, SAT, RESNET50_2OF8, *extra)
    assert code == 2 and out == "" and err.startswith(f"simulate: error: {named}: does not apply with")


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m sparseloom.apps.simulate {SAT} {RESNET50_2OF8} | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("arch      SAT") and proc.stderr == ""
