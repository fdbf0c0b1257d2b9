"""A resource table per PE type and array size, from yosys synthesis: the sweeps' area model.

    python -m sparseloom.rtl.resources [-o explore/rtl_resources.csv] [--pe int8_int32 fp16_fp32]
                                       [--sizes 2 4 8] [--fp-sizes 2]

PE types: dense (1 activation per PE), N:M with a 4:1 and with an 8:1 activation multiplexer;
both dataflows; ECP5 and UltraScale+ (xcup) cell counts; per datapath (``pe``):

- ``int8_int32``: the single-tile engines (``ws_engine``, ``os_array``), int8 operands, int32
  accumulators;
- ``fp16_fp32``: SAT's FP16 x FP16 -> FP32 PE array of the whole-GEMM engines (``pe_array``: SAT's
  3 MAC stages; weight-stationary with shadow weights, output-stationary with 4 accumulators and
  shadows per PE for an adder of latency 4). Its arrays synthesise slowly: ``--fp-sizes`` (default
  2x2) sizes them separately; larger ones are behind that flag.

The rows of the datapaths not regenerated are kept from the existing table.
"""
from __future__ import annotations

import argparse
import csv
import io
import tempfile
from pathlib import Path

from ..core.atomic import write_text
from .config import RtlConfig
from .export import to_verilog
from .arrays import OutputStationaryArray
from .flow import synthesize
from .pe_array import PeArray
from .top import WeightStationaryEngine

REPO = Path(__file__).resolve().parent.parent
PE_TYPES = {"dense": 1, "nm_4to1": 4, "nm_8to1": 8}
PES = ("int8_int32", "fp16_fp32")
COLUMNS = ["pe", "design", "family", "dataflow", "pe_type", "lanes", "rows", "cols", "LUT", "FF", "DSP", "BRAM",
           "carry", "LUT_per_PE", "FF_per_PE"]
FP_LATENCY, FP_STAGES = 4, 3            # arch/sat.yaml's accumulator_latency_cycles and mac_pipeline_stages


def design(pe: str, dataflow: str, size: int, lanes: int):
    """(name, component) of the design whose cells price a PE of ``pe``."""
    ws = dataflow == "weight_stationary"
    if pe == "int8_int32":
        cfg = RtlConfig(size, size, lanes, 8, 32)
        return ("ws_engine", WeightStationaryEngine(cfg)) if ws else ("os_array", OutputStationaryArray(cfg))
    cfg = RtlConfig(size, size, lanes, 16, 32, FP_LATENCY, True, FP_STAGES, "fp16_fp32")
    return "pe_array", PeArray(cfg, ws=ws, os=not ws, groups=1 if ws else FP_LATENCY, shadow=ws)


def table(sizes: dict[str, list[int]], families: list[str]) -> list[dict]:
    """``sizes``: per datapath (``PES``), the square array sizes to synthesise."""
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        for pe, pe_sizes in sizes.items():
            for family in families:
                for dataflow in ("weight_stationary", "output_stationary"):
                    for pe_type, lanes in PE_TYPES.items():
                        for size in pe_sizes:
                            kind, component = design(pe, dataflow, size, lanes)
                            name = f"{pe}_{dataflow[:2]}_{pe_type}_{size}"
                            (folder / f"{name}.v").write_text(to_verilog(component, name))
                            r = synthesize(folder, f"{name}.v", name, family).resources()
                            pes = size * size
                            rows.append({"pe": pe, "design": kind, "family": family, "dataflow": dataflow,
                                         "pe_type": pe_type, "lanes": lanes, "rows": size, "cols": size, **r,
                                         "LUT_per_PE": round(r["LUT"] / pes, 1), "FF_per_PE": round(r["FF"] / pes, 1)})
                            print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "explore" / "rtl_resources.csv")
    parser.add_argument("--pe", nargs="+", choices=PES, default=list(PES), help="the datapaths to synthesise")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8], help="int8_int32 array sizes")
    parser.add_argument("--fp-sizes", type=int, nargs="+", default=[2], help="fp16_fp32 array sizes (slow)")
    parser.add_argument("--families", nargs="+", choices=["ecp5", "xcup"], default=["ecp5", "xcup"])
    args = parser.parse_args(argv)
    sizes = {pe: args.sizes if pe == "int8_int32" else args.fp_sizes for pe in args.pe}
    kept = []
    if args.output.exists():
        with args.output.open() as f:
            kept = [row for row in csv.DictReader(f) if row.get("pe", "int8_int32") not in sizes]
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept + table(sizes, args.families))
    write_text(args.output, out.getvalue())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
