"""``simulate ARCH WORKLOAD``: one design, one workload: what was modelled, totals, the speedup and its ideals, and the slowest layers (every layer and phase with --layers)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..arch.schema import load_arch
from ..core.atomic import check_output, write_text
from ..core.bundled import listing, resolve
from ..core.errors import InputError
from ..dataflow.schedule import load_schedule, schedule_yaml
from ..explore.power import power_notes, power_totals
from ..reports.table import ablation_text, csv_text, json_text, side_csv_text, text_table, totals_csv_text
from ..sim.ablation import ablation, with_options
from ..sim.simulate import FIDELITIES, simulate, speedup_over_dense
from ..workloads.run_schedule import FILE as RUN_FILE, load_run_schedule
from ..workloads.trace import load_workload
from .cli import add_version, refuse, run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simulate", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("arch", nargs="?", help="a bundled preset (sat) or an architecture file (arch/sat.yaml)")
    p.add_argument("workload", nargs="?", help="a bundled trace (resnet50_2of8) or a trace folder")
    p.add_argument("--list", action="store_true", help="list the bundled presets, traces and sweep specs, and exit")
    p.add_argument("--batch", type=int, help="override the trace's batch size")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="what to print (default: table)")
    p.add_argument("--layers", action="store_true", help="table: every layer and phase (default: the ten slowest rows)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing (errors still go to stderr); use with -o")
    p.add_argument("--fidelity", choices=FIDELITIES, default="analytic",
                   help="analytic: closed form per layer (default); event: discrete-event engine with DMA, buffers, contention")
    p.add_argument("--timeline", type=Path, metavar="FILE.json",
                   help="event fidelity: write a Chrome trace-event JSON (Perfetto, chrome://tracing) to FILE.json "
                        "and a Gantt/utilisation plot beside it (FILE.png)")
    p.add_argument("-o", "--output", type=Path, help="also write gemms.csv (the array GEMMs), side_engines.csv "
                                                      "(pruning, update and vector jobs), totals.csv (totals, speedup, "
                                                      "provenance, notes) and summary.json into this folder")
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
    return add_version(p)


def _check_options(args) -> None:
    """Options that do not apply together are refused, never ignored; outputs are checked before work."""
    if args.list:
        refuse({"ARCH": args.arch, "WORKLOAD": args.workload}, "--list")
        return
    if not (args.arch and args.workload):
        raise InputError("simulate", "", "expected ARCH and WORKLOAD (a preset and a trace: `simulate sat "
                                         "resnet50_2of8`; `simulate --list` shows the bundled ones)")
    text_view = {"--format": args.format != "table", "--layers": args.layers, "--quiet": args.quiet, "-o": args.output,
                 "--timeline": args.timeline, "--save-schedule": args.save_schedule}
    if args.ablation:
        refuse({"--explain": args.explain, "--schedule": args.schedule, **text_view},
               "--ablation, which prints its own text view")
    elif args.explain:
        refuse({"--format": args.format != "table", "--layers": args.layers, "--quiet": args.quiet, "-o": args.output},
               "--explain, which prints its own text view")
    refuse({"--layers": args.layers and args.format != "table"}, f"--format {args.format}, which always has every row")
    refuse({"--quiet": args.quiet and args.format != "table"}, f"--format {args.format}, which is printed output")
    if args.batch is not None and args.batch < 1:
        raise InputError("--batch", "", f"expected a batch size >= 1, got {args.batch}")
    if args.timeline:
        if args.fidelity != "event":
            raise InputError("--timeline", "", "a timeline needs --fidelity event")
        if args.timeline.suffix.lower() == ".png":
            raise InputError("--timeline", str(args.timeline), "is the trace JSON (its plot goes beside it as .png): "
                                                               "give a .json name")
        check_output(args.timeline, "--timeline")
        check_output(args.timeline.with_suffix(".png"), "--timeline")
    if args.output:
        check_output(args.output, "-o", folder=True)
    if args.save_schedule:
        check_output(args.save_schedule, "--save-schedule")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run("simulate", lambda: _run(args))


def _run(args) -> int:
    _check_options(args)
    if args.list:
        print(listing())
        return 0
    arch = load_arch(resolve("arch", args.arch))
    switches = {name: getattr(args, name) for name in ("interleave", "pregenerate", "offline_schedule")}
    arch = with_options(arch, **{k: v for k, v in switches.items() if v is not None})
    workload = load_workload(resolve("workload", args.workload))
    if args.batch is not None:
        workload = workload.with_batch(args.batch)
    schedule = load_schedule(args.schedule, workload, arch) if args.schedule else None
    if args.ablation:
        print(ablation_text(ablation(arch, workload, args.fidelity), arch.name, workload.meta.name, args.fidelity))
        return 0
    result = simulate(arch, workload, args.fidelity, args.timeline, schedule)
    if args.save_schedule:
        write_text(args.save_schedule, schedule_yaml(result.schedule, workload, arch))
    if args.explain:
        from ..reports.explain import explain_text

        print(explain_text(result, args.explain))
        return 0
    speedup = speedup_over_dense(arch, workload, result)
    run_schedule = load_run_schedule(workload)     # the trace's sparsity schedule over a run, if any
    run = None
    if run_schedule:
        from ..sim.run import simulate_run

        run = simulate_run(arch, workload, run_schedule, args.fidelity, result,
                           lambda r: power_totals(arch, r.totals)["total_energy_uj"])
    power = {"totals": power_totals(arch, result.totals), "notes": power_notes(arch)}
    if args.output:
        write_text(args.output / "gemms.csv", csv_text(result))
        write_text(args.output / "side_engines.csv", side_csv_text(result))
        write_text(args.output / "totals.csv", totals_csv_text(result, speedup, power))
        write_text(args.output / "summary.json", json_text(result, speedup, power, run))
    if not args.quiet:
        printers = {"table": lambda: text_table(result, speedup, args.layers, power), "csv": lambda: csv_text(result),
                    "json": lambda: json_text(result, speedup, power, run)}
        print(printers[args.format]())
        if run and args.format == "table":
            from ..reports.run import run_text

            print(run_text(run, str(Path(args.workload) / RUN_FILE)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
