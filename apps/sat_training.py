"""Sparse (BDWP 2:8) vs dense training on SAT over the paper's evaluation set.

    python -m sparseloom.apps.sat_training [-o DIR] [--fidelity event|analytic]

Writes ``sat_training.md`` and ``sat_training.png`` into DIR (default ``reports/showcase`` under the
current folder: in a checkout, the committed showcase). Every number comes from
the simulator in this one run: for each model, one BDWP 2:8 and one dense training iteration on
``arch/sat.yaml``. Where the speedup falls short of the ideal (dense MACs / useful MACs), the gap
is split exactly by cause: each cycle category of the sparse run minus the same category of the
dense run scaled down by the ideal speedup (what a perfect N:M array would spend on it).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..arch.schema import load_arch
from ..core.atomic import check_output, write_text
from ..core.bundled import resolve
from ..reports.sat_training import CATEGORIES, cycle_categories, markdown, plot
from ..sim.simulate import FIDELITIES, simulate, speedup_over_dense
from ..workloads.trace import load_workload
from .cli import add_version, run

OUTPUT = Path("reports") / "showcase"      # relative: under the current folder, never the installed package
MODELS = [("ResNet-9 (CIFAR-10)", "resnet9_2of8"), ("VGG-19 (CIFAR-10)", "vgg19_2of8"),
          ("ResNet-18 (ImageNet)", "resnet18_2of8"), ("ResNet-50 (ImageNet)", "resnet50_2of8"),
          ("DeiT-Small (ImageNet)", "deit_small_2of8")]


def evaluate(fidelity: str) -> list[dict]:
    arch = load_arch(resolve("arch", "sat"))
    out = []
    for title, trace in MODELS:
        workload = load_workload(resolve("workload", trace))
        sparse, dense = simulate(arch, workload, fidelity), simulate(arch, workload.densified(), fidelity)
        bounds = speedup_over_dense(arch, workload, sparse, dense)
        ideal, speedup = bounds["ideal_speedup"], bounds["speedup"]
        s_cat, d_cat = cycle_categories(sparse), cycle_categories(dense)
        gap = {c: s_cat[c] - d_cat[c] / ideal for c in CATEGORIES}
        out.append({"title": title, "trace": trace, "batch": workload.meta.batch_size, "sparse": sparse, "dense": dense,
                    "ideal": ideal, "iteration_ideal": bounds["iteration_ideal_speedup"], "speedup": speedup, "sparse_categories": s_cat, "dense_categories": d_cat,
                    "gap": gap})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sat_training", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help=f"folder to write into (default {OUTPUT})")
    parser.add_argument("--fidelity", choices=FIDELITIES, default="event")
    args = add_version(parser).parse_args(argv)

    def body() -> int:
        check_output(args.output, "-o", folder=True)
        results = evaluate(args.fidelity)
        args.output.mkdir(parents=True, exist_ok=True)
        write_text(args.output / "sat_training.md", markdown(results, args.fidelity))
        plot(results, args.output / "sat_training.png")
        print(f"wrote {args.output / 'sat_training.md'} and sat_training.png")
        return 0

    return run("sat_training", body)


if __name__ == "__main__":
    raise SystemExit(main())
