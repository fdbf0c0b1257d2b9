"""SAT's dataflow switches: each, turned off alone, never makes a workload faster; the ablation."""
from __future__ import annotations

import json

import pytest

from sparseloom.arch.schema import load_arch
from sparseloom.sim.ablation import STEPS, ablation, with_options
from sparseloom.apps.simulate import main
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import load_workload

from .conftest import RESNET50_2OF8, ROOT, SAT

BASE = load_arch(SAT)
TRACES = sorted(p.name for p in (ROOT / "workloads").iterdir() if (p / "layers.csv").exists())


@pytest.mark.parametrize("trace", TRACES)
@pytest.mark.parametrize("fidelity", ["analytic", "event"])
def test_each_switch_off_alone_is_never_faster(trace, fidelity):
    w = load_workload(ROOT / "workloads" / trace)
    if fidelity == "event" and trace == "deit_small_2of8":
        w = w.with_batch(4)                                   # keeps the suite fast
    on = simulate(BASE, w, fidelity).totals["cycles"]
    for switch in ("interleave", "pregenerate", "offline_schedule"):
        off = simulate(with_options(BASE, **{switch: False}), w, fidelity).totals["cycles"]
        assert off >= on, (trace, switch)


def test_ablation_steps():
    rows = ablation(BASE, load_workload(RESNET50_2OF8))
    assert [r["step"] for r in rows] == [name for name, _ in STEPS]
    cycles = [r["cycles"] for r in rows]
    assert cycles == sorted(cycles, reverse=True)            # each optimisation helps or does nothing
    assert rows[0]["speedup"] == 1.0 and rows[-1]["speedup"] == pytest.approx(cycles[0] / cycles[-1])
    assert rows[0]["stall_acc_hazard"] > 0 and rows[1]["stall_acc_hazard"] == 0  # interleaving hides the adder
    assert rows[1]["stall_pruning"] > 0 and rows[2]["stall_pruning"] < rows[1]["stall_pruning"] / 100


def test_ablation_and_explain_commands(capsys):
    assert main([str(SAT), str(RESNET50_2OF8), "--ablation"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name, _ in STEPS)
    assert main([str(SAT), str(RESNET50_2OF8), "--explain", "layer2.1.conv2"]) == 0
    out = capsys.readouterr().out
    assert "FF: GEMM M=25088" in out and "chosen" in out and "runner-up" in out
    assert main([str(SAT), str(RESNET50_2OF8), "--explain", "nope"]) == 2
    assert "no layer 'nope'" in capsys.readouterr().err


def test_switch_flags_override_the_arch_file(capsys):
    main([str(SAT), str(RESNET50_2OF8), "--format", "json", "--no-interleave", "--no-pregenerate"])
    totals = json.loads(capsys.readouterr().out)["totals"]
    off = simulate(with_options(BASE, interleave=False, pregenerate=False), load_workload(RESNET50_2OF8)).totals
    assert totals["cycles"] == off["cycles"] and totals["stall_pruning"] > 0
