"""A resource table per PE type and array size, from yosys synthesis: the sweeps' area model.

    python -m sparseloom.rtl.resources [-o explore/rtl_resources.csv] [--sizes 2 4 8]

PE types: dense (1 activation per PE), N:M with a 4:1 and with an 8:1 activation multiplexer;
int8 operands, int32 accumulators; both dataflows; ECP5 and UltraScale+ (xcup) cell counts.
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
from .top import WeightStationaryEngine

REPO = Path(__file__).resolve().parent.parent
PE_TYPES = {"dense": 1, "nm_4to1": 4, "nm_8to1": 8}
COLUMNS = ["family", "dataflow", "pe_type", "lanes", "rows", "cols", "LUT", "FF", "DSP", "BRAM", "carry",
           "LUT_per_PE", "FF_per_PE"]


def table(sizes: list[int], families: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        for family in families:
            for dataflow, make in (("weight_stationary", WeightStationaryEngine), ("output_stationary", OutputStationaryArray)):
                for pe_type, lanes in PE_TYPES.items():
                    for size in sizes:
                        cfg = RtlConfig(size, size, lanes, 8, 32)
                        name = f"{dataflow[:2]}_{pe_type}_{size}"
                        (folder / f"{name}.v").write_text(to_verilog(make(cfg), name))
                        r = synthesize(folder, f"{name}.v", name, family).resources()
                        pes = size * size
                        rows.append({"family": family, "dataflow": dataflow, "pe_type": pe_type, "lanes": lanes,
                                     "rows": size, "cols": size, **r,
                                     "LUT_per_PE": round(r["LUT"] / pes, 1), "FF_per_PE": round(r["FF"] / pes, 1)})
                        print(rows[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "explore" / "rtl_resources.csv")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--families", nargs="+", choices=["ecp5", "xcup"], default=["ecp5", "xcup"])
    args = parser.parse_args(argv)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table(args.sizes, args.families))
    write_text(args.output, out.getvalue())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
