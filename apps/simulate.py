"""``simulate ARCH WORKLOAD``: one design, one workload, per-layer/per-phase table and totals."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..arch.schema import load_arch
from ..core.atomic import write_text
from ..core.errors import CapacityError, InputError
from ..dataflow.schedule import load_schedule, schedule_yaml
from ..explore.power import power_notes, power_totals
from ..reports.explain import explain_text
from ..reports.run import run_text
from ..reports.table import ablation_text, csv_text, json_text, side_csv_text, text_table
from ..sim.ablation import ablation, with_options
from ..sim.run import simulate_run
from ..sim.simulate import FIDELITIES, simulate, speedup_over_dense
from ..workloads.run_schedule import FILE as RUN_FILE, load_run_schedule
from ..workloads.trace import load_workload


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simulate", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("arch", help="architecture file, e.g. arch/sat.yaml")
    p.add_argument("workload", help="workload trace folder, e.g. workloads/resnet50_2of8")
    p.add_argument("--batch", type=int, help="override the trace's batch size")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="what to print (default: table)")
    p.add_argument("--fidelity", choices=FIDELITIES, default="analytic",
                   help="analytic: closed form per layer (default); event: simpy engine with DMA, buffers, contention")
    p.add_argument("--timeline", type=Path, metavar="FILE",
                   help="event fidelity: write a Chrome trace-event JSON (Perfetto, chrome://tracing) to FILE "
                        "and a Gantt/utilisation plot beside it (FILE with .png)")
    p.add_argument("-o", "--output", type=Path, help="also write gemms.csv (the array GEMMs), side_engines.csv "
                                                      "(pruning and update jobs) and summary.json into this folder")
    for switch, what in (("interleave", "interleave mapping"), ("pregenerate", "pre-generation of N:M sparse weights"),
                         ("offline-schedule", "offline scheduling (mapping search)")):
        p.add_argument(f"--{switch}", action=argparse.BooleanOptionalAction, default=None,
                       help=f"switch {what} on or off (default: as the arch file says)")
    p.add_argument("--ablation", action="store_true",
                   help="run all optimisations off, then switch on interleave, pre-generation, offline scheduling")
    p.add_argument("--explain", metavar="LAYER", help="show the mapping chosen for each phase of LAYER and the runner-up")
    p.add_argument("--save-schedule", type=Path, metavar="FILE",
                   help="write the schedule that was run (YAML: per GEMM its dataflow, chunk, loop order, "
                        "interleave and executed pattern) to FILE")
    p.add_argument("--schedule", type=Path, metavar="FILE",
                   help="run this schedule (e.g. one --save-schedule wrote, pinned or edited) instead of the "
                        "dataflow compiler's")
    return p


def _reject_combinations(args) -> None:
    """Options that do not apply together are refused, never ignored."""
    if args.ablation:
        unused = {"--explain": args.explain, "--schedule": args.schedule, "--save-schedule": args.save_schedule, "-o": args.output,
                  "--format": args.format != "table", "--timeline": args.timeline}
    elif args.explain:
        unused = {"-o": args.output, "--format": args.format != "table"}
    else:
        return
    for name, given in unused.items():
        if given:
            view = "--ablation" if args.ablation else "--explain"
            raise InputError(name, "", f"does not apply with {view}, which prints its own text view")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:     # `simulate ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args) -> int:
    try:
        arch = load_arch(args.arch)
        switches = {name: getattr(args, name) for name in ("interleave", "pregenerate", "offline_schedule")}
        arch = with_options(arch, **{k: v for k, v in switches.items() if v is not None})
        workload = load_workload(args.workload)
        if args.batch is not None:
            if args.batch < 1:
                raise InputError("--batch", "", f"expected a batch size >= 1, got {args.batch}")
            workload = workload.with_batch(args.batch)
        if args.timeline and args.fidelity != "event":
            raise InputError("--timeline", "", "a timeline needs --fidelity event")
        _reject_combinations(args)
        schedule = load_schedule(args.schedule, workload, arch) if args.schedule else None
        if args.ablation:
            print(ablation_text(ablation(arch, workload, args.fidelity), arch.name, workload.meta.name, args.fidelity))
            return 0
        result = simulate(arch, workload, args.fidelity, args.timeline, schedule)
        if args.save_schedule:
            write_text(args.save_schedule, schedule_yaml(result.schedule, workload, arch))
        if args.explain:
            print(explain_text(result, args.explain))
            return 0
        speedup = speedup_over_dense(arch, workload, result)
        run_schedule = load_run_schedule(workload)     # the trace's sparsity schedule over a run, if any
        run = simulate_run(arch, workload, run_schedule, args.fidelity, result) if run_schedule else None
        power = {"totals": power_totals(arch, result.totals), "notes": power_notes(arch)}
    except (InputError, CapacityError) as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return 2
    printers = {"table": lambda: text_table(result, speedup, power), "csv": lambda: csv_text(result),
                "json": lambda: json_text(result, speedup, power, run)}
    print(printers[args.format]())
    if run and args.format == "table":
        print(run_text(run, str(Path(args.workload) / RUN_FILE)))
    if args.output:
        write_text(args.output / "gemms.csv", csv_text(result))
        write_text(args.output / "side_engines.csv", side_csv_text(result))
        write_text(args.output / "summary.json", json_text(result, speedup, power, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
