"""Llama-2-7B at 2:4 and 2:8, prefill and decode, on SAT, S4-class, A100 and H100 presets: dense vs N:M vs
load-as-sparse.

    python -m sparseloom.apps.llm_showcase [-o DIR]   (default reports/showcase/llm under the current folder)

Writes ``llm.md`` and ``llm.png``. Per preset, phase and pattern, four runs of one analytic
iteration (a 512-token prefill, or 128 decode steps after it, batch 1):

- **dense**: the trace densified, on the preset as it is;
- **N:M**: the trace on the preset, which executes the sparsest pattern it has that holds the
  trace's (a 2:8 tensor runs as 2:4 on the A100) and stores the weights as executed;
- **N:M, sparse load**: the same, with ``sparsity.load_compressed`` on: weights stay in the
  trace's own pattern in DRAM and are expanded on chip to the executed one (differs from N:M only
  where the array executes a denser pattern than the trace's);
- **load-as-sparse**: Flash-LLM's compute-as-dense: the preset's array restricted to dense, the
  weights stored in the trace's N:M and expanded by the arch file's decompressor
  (``sparsity.decompress_elements_per_cycle``) before it.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..arch.schema import Arch, load_arch
from ..core.atomic import check_output, write_text
from ..core.bundled import resolve
from ..reports.llm_showcase import markdown, plot
from ..sim.simulate import simulate, speedup_over_dense
from ..workloads.llm import llm_trace
from .cli import add_version, run
from .sat_training import OUTPUT

PRESETS = [("SAT", "sat"), ("S4-class", "s4"), ("A100", "a100"), ("H100", "h100")]
PHASES = [("prefill", 512, 0), ("decode", 512, 128)]
PATTERNS = ["2:4", "2:8"]
MODES = ["dense", "N:M", "N:M, sparse load", "load-as-sparse"]


def mode_arch(arch: Arch, mode: str) -> Arch:
    """The preset as each mode runs it."""
    if mode in ("dense", "N:M"):
        return arch
    sparsity = replace(arch.sparsity, load_compressed=True)
    if mode == "load-as-sparse":
        sparsity = replace(sparsity, nm_patterns=["dense"])
    return replace(arch, sparsity=sparsity)


def evaluate() -> list[dict]:
    rows = []
    for title, preset in PRESETS:
        arch = load_arch(resolve("arch", preset))
        for phase, seq, steps in PHASES:
            dense_workload = llm_trace("llama2_7b_dense", "llama2_7b", "inference", seq, steps)
            dense = simulate(arch, dense_workload)
            for nm in PATTERNS:
                workload = llm_trace(f"llama2_7b_{nm}", "llama2_7b", "inference", seq, steps, 1, "bdwp", nm)
                for mode in MODES:
                    run_arch = mode_arch(arch, mode)
                    result = dense if mode == "dense" else simulate(run_arch, workload)
                    # the same dense iteration is the reference of every mode (the preset as it is)
                    bounds = speedup_over_dense(arch, workload, result, dense) if mode != "dense" else \
                        {"speedup": 1.0, "iteration_ideal_speedup": 1.0, "ideal_speedup": 1.0, "above_ideal": False}
                    rows.append({"preset": title, "arch": arch, "phase": phase, "steps": steps, "nm": nm, "mode": mode,
                                 "result": result, "dense": dense, **bounds})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm_showcase", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT / "llm",
                        help=f"folder to write into (default {OUTPUT / 'llm'})")
    args = add_version(parser).parse_args(argv)

    def body() -> int:
        check_output(args.output, "-o", folder=True)
        rows = evaluate()
        write_text(args.output / "llm.md", markdown(rows))
        plot(rows, args.output / "llm.png")
        print(f"wrote {args.output / 'llm.md'} and llm.png")
        return 0

    return run("llm_showcase", body)


if __name__ == "__main__":
    raise SystemExit(main())
