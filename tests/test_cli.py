"""The `simulate` command: formats, output files, and clear errors instead of tracebacks."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from sparseloom.apps.simulate import main

from .conftest import DENSE, RESNET50_2OF8, ROOT, SAT


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
    totals_csv = pd.read_csv(tmp_path / "res" / "totals.csv").set_index("name")
    assert int(totals_csv.value["cycles"]) == totals["cycles"] and totals_csv.unit["cycles"] == "cycles"
    assert list(totals_csv[totals_csv.index == "note"].value) == summary["notes"]
    assert totals_csv.value["provenance.fidelity"] == "analytic"


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


def test_bundled_names_and_the_list(capsys):
    code, out, _ = run(capsys, "sat", "resnet9_2of8", "--format", "json")
    assert code == 0 and json.loads(out)["arch"] == "SAT"
    code, out, _ = run(capsys, "--list")
    assert code == 0 and "sat" in out and "resnet50_2of8" in out and "sat_array" in out
    code, _, err = run(capsys, "--list", "sat")
    assert code == 2 and "ARCH: does not apply with --list" in err


@pytest.mark.parametrize("module", ["simulate", "sweep", "trace", "rtlgen"])
def test_every_command_has_a_version(capsys, module):
    import importlib

    from sparseloom import __version__

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(f"sparseloom.apps.{module}").main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"{module} (sparseloom) {__version__}\n"


def test_the_default_view_is_compact_and_says_how_it_was_made(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)     # the README's command, with its relative paths (the checkout's path is any length)
    job = ["arch/sat.yaml", "workloads/resnet50_2of8"]
    monkeypatch.setattr(sys, "argv", ["simulate", *job])   # the command it records
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None)
    code, out, _ = run(capsys, *job)
    lines = out.splitlines()
    assert code == 0 and max(map(len, lines)) <= 100 and len(lines) < 45
    assert "the 10 slowest of" in out and "speedup" in out and "ideal" in out
    made = out[out.index("made by"):out.index("\n\n")]
    assert "sparseloom" in made and "analytic fidelity" in made and "arch sha256" in made and "trace sha256" in made
    assert run(capsys, SAT, RESNET50_2OF8, "--quiet") == (0, "", "")


def test_json_carries_provenance_and_integers(capsys, monkeypatch):
    from sparseloom.core.provenance import folder_digest

    monkeypatch.setattr(sys, "argv", ["simulate", str(SAT), str(RESNET50_2OF8), "--format", "json", "--no-interleave"])
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None)   # as the console script runs it
    _, out, _ = run(capsys, SAT, RESNET50_2OF8, "--format", "json", "--no-interleave")
    summary = json.loads(out)
    made = summary["provenance"]
    assert made["fidelity"] == "analytic" and made["switches"]["interleave"] is False
    assert made["trace_files_sha256"] == folder_digest(RESNET50_2OF8) and len(made["arch_sha256"]) == 64
    assert made["command"] == f"simulate {SAT} {RESNET50_2OF8} --format json --no-interleave"
    assert isinstance(summary["totals"]["dram_bytes"], int) and isinstance(summary["gemms"][0]["dram_read_bytes"], int)
    _, other, _ = run(capsys, SAT, RESNET50_2OF8, "--format", "json")
    assert json.loads(other)["provenance"]["arch_sha256"] != made["arch_sha256"]   # the switch changes the resolved arch


@pytest.mark.parametrize("extra, message", [
    (["--quiet", "--format", "json"], "--quiet: does not apply with --format json"),
    (["--layers", "--format", "csv"], "--layers: does not apply with --format csv"),
    (["--ablation", "--quiet"], "--quiet: does not apply with --ablation"),
    (["--fidelity", "event", "--timeline", "run.png"], "give a .json name"),
    (["-o", "/dev/full"], "found a file"),
    (["--save-schedule", "/dev/full"], "a device or special file"),
])
def test_more_options_refused(capsys, extra, message):
    code, out, err = run(capsys, SAT, RESNET50_2OF8, *extra)
    assert code == 2 and out == "" and message in err


def test_output_paths_are_checked_before_work(capsys, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for extra, message in ((["-o", a_file], "expected a folder to write into, found a file"),
                           (["-o", a_file / "sub"], "it is a file, not a folder"),
                           (["--fidelity", "event", "--timeline", tmp_path], "found a folder"),
                           (["-o", "/proc/sparseloom"], "cannot write under /proc")):
        code, out, err = run(capsys, SAT, RESNET50_2OF8, *extra)
        assert code == 2 and out == "" and message in err and err.count("\n") == 1, err


def test_a_failed_write_is_one_line(capsys, tmp_path, monkeypatch):
    from sparseloom.core import atomic

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "write_bytes", full)
    code, _, err = run(capsys, SAT, RESNET50_2OF8, "-q", "-o", tmp_path / "out")
    assert code == 1 and err == f"simulate: error: {tmp_path / 'out' / 'gemms.csv'}: No space left on device\n"


@pytest.mark.parametrize("args, message", [
    (["resnet9", "--seed", "-1"], "--seed: expected >= 0, got -1"),
    (["missing.onnx"], "missing.onnx: file not found"),
    (["resnet9", "--method", "dense", "--nm", "2:4"], "--nm: does not apply with --method dense"),
])
def test_trace_errors_are_one_line(capsys, tmp_path, args, message):
    from sparseloom.apps.trace import main as trace

    assert trace([*args, "-o", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_trace_dense_method_writes_a_dense_trace(capsys, tmp_path):
    from sparseloom.apps.trace import main as trace
    from sparseloom.workloads.trace import load_workload

    assert trace(["resnet9", "--method", "dense", "-o", str(tmp_path / "t")]) == 0
    assert load_workload(tmp_path / "t").meta.sparsity.nm == "dense"


def test_a_missing_optional_package_names_its_extra(capsys, tmp_path, monkeypatch):
    from sparseloom.apps.trace import main as trace

    monkeypatch.setitem(sys.modules, "torch", None)                  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "sparseloom.workloads.digits", raising=False)
    assert trace(["digits_cnn", "--source", "trained", "-o", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "needs the optional package torch: pip install 'sparseloom[torch]'" in err and "Traceback" not in err
