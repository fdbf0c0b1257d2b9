"""CPU time of the schedule (build, mapping search, vector-job placement) and of the cost model
on the chosen schedule; prints medians and paired ratios.

    python benchmarks/bench_schedule.py [--runs N] [--cases NAME ...] [--baseline SRC]

Cases: ResNet-50 BDWP 2:8 training on SAT and a Llama-2-7B 2:4 training trace of 32 blocks at
4,096 tokens, batch 1. Per case and stage the figure is the median over ``--runs`` of
``time.process_time`` around one call: ``make_schedule(workload, arch, cost)`` with the cost
model the simulator ranks by, ``gemm_cost(schedule.gemms, arch)`` on the schedule it chose, and
one analytic ``simulate()`` (everything warmed up once before), so it means the same on a
loaded machine as on a quiet one.

``--baseline SRC`` also runs every stage, in turn with this tree, in a second interpreter on
another checkout of sparseloom (``git worktree add /tmp/base <commit>``; SRC is its root, with
the package folders ``core``, ``sim``, ...): the ratio is this tree's CPU seconds over the
baseline's, pair by pair, and ``same`` says whether the chosen schedule (every GEMM's mapping,
the execution order and the vector jobs' places) and the cost's cycles agree exactly.
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

from checkout import Baseline, benchmark_arguments, import_checkout

ROOT = Path(__file__).resolve().parent.parent
CASES = ("resnet50 2:8", "llama7b b1")
STAGES = ("make_schedule", "gemm_cost", "simulate")


class _Runner:
    """Loads the traces and times the stages in this interpreter (whichever sparseloom it imports)."""

    def __init__(self):
        from sparseloom.arch.schema import load_arch
        from sparseloom.dataflow.schedule import make_schedule
        from sparseloom.sim.cost import gemm_cost
        from sparseloom.sim.simulate import simulate
        from sparseloom.workloads.llm import llm_trace
        from sparseloom.workloads.trace import load_workload

        arch = load_arch(ROOT / "arch" / "sat.yaml")
        try:        # the cost the simulator's search ranks by
            from sparseloom.sim.cost import CandidateCost
            cost = partial(CandidateCost, arch)
        except ImportError:     # a checkout from before the two-stage search: a cost returns the keys
            def cost(t, *same):
                return gemm_cost(t, arch, *same).ranking()
        workloads = {"resnet50 2:8": load_workload(ROOT / "workloads" / "resnet50_2of8"),
                     "llama7b b1": llm_trace("llama2_7b_2of4_training4096", "llama2_7b", "training", 4096, 0, 1,
                                             "bdwp", "2:4")}
        self.calls = {}
        for case, workload in workloads.items():
            schedule = make_schedule(workload, arch, cost)
            self.calls[case] = {
                "make_schedule": lambda w=workload: make_schedule(w, arch, cost),
                "gemm_cost": lambda g=schedule.gemms: gemm_cost(g, arch),
                "simulate": lambda w=workload: simulate(arch, w, "analytic")}
            self.calls[case]["fingerprint"] = _fingerprint(schedule, gemm_cost(schedule.gemms, arch))
            for stage in STAGES:
                self.calls[case][stage]()        # warm-up

    def run(self, case: str, stage: str) -> tuple[float, str]:
        start = time.process_time()
        self.calls[case][stage]()
        return time.process_time() - start, self.calls[case]["fingerprint"]


def _fingerprint(schedule, cost) -> str:
    """A digest of what must not move: the chosen mappings, the order, the jobs' places, the cycles."""
    g, v = schedule.gemms, schedule.vector
    parts = [g.layer, g.phase, g.dataflow, g.chunk, g.n_outer, g.interleave, g.pattern, schedule.order,
             v.wait_for, v.blocks, cost.cycles, cost.array, cost.dram_bytes]
    return hashlib.sha256(repr([p.tolist() for p in parts]).encode()).hexdigest()[:16]


def _worker(source: Path) -> None:
    """Serve ``case|stage`` lines on stdin with the sparseloom under ``source``: one JSON line each."""
    import_checkout(source)
    runner = _Runner()
    for line in sys.stdin:
        seconds, fingerprint = runner.run(*line.strip().split("|"))
        print(json.dumps({"seconds": seconds, "fingerprint": fingerprint}), flush=True)


def main() -> None:
    args = benchmark_arguments(__doc__.splitlines()[0], 7, CASES)
    if args.worker:
        return _worker(args.worker)
    runner = _Runner()
    baseline = Baseline(__file__, args.baseline) if args.baseline else None
    print(f"CPU milliseconds on SAT, median of {args.runs} runs" + (f"; baseline {args.baseline}" if baseline else ""))
    for case in args.cases:
        for stage in STAGES:
            seconds, theirs, ratios, same = [], [], [], True
            for _ in range(args.runs):
                this, fingerprint = runner.run(case, stage)
                seconds.append(this)
                if baseline:
                    answer = baseline.ask(f"{case}|{stage}")
                    theirs.append(answer["seconds"])
                    ratios.append(this / max(answer["seconds"], 1e-9))
                    same = same and answer["fingerprint"] == fingerprint
            line = f"{case:>13} {stage:>13}: median {statistics.median(seconds) * 1e3:8.2f} ms CPU"
            if baseline:
                line += (f" | baseline {statistics.median(theirs) * 1e3:8.2f} ms | ratio median {statistics.median(ratios):6.3f}"
                         f" (same schedule and cycles: {same})")
            print(line, flush=True)
    if baseline:
        baseline.close()


if __name__ == "__main__":
    main()
