"""The area model of a design point: FPGA resources from the RTL resource table.

The table (``explore/rtl_resources.csv``, kept beside this model as package data; made by
``python -m sparseloom.rtl.resources``) holds yosys cell counts of PE arrays per datapath
(``pe``: int8 x int8 -> int32, or SAT's FP16 x FP16 -> FP32; the arch's operand/accumulator
dtypes choose), PE type (dense, 4:1 and 8:1 activation multiplexers), dataflow and size. A point's array costs its PE
count times the per-PE LUTs, FFs and DSPs of the largest synthesised array with the smallest
multiplexer that covers the arch's widest M (beyond 8:1, the 4:1-to-8:1 growth per lane is
extended linearly). An array with several dataflows is costed at the largest; a dataflow
without synthesised PEs is priced by its
``area_proxy`` (input-stationary as weight-stationary: one multiplier, an M:1 multiplexer and M
operand registers per PE). Buffers
take block RAMs: per buffer, at least one per bank and enough 36 Kb blocks for its size.

The table is read once per process and indexed once per (family, dataflow, PE): a design point
costs a few dictionary look-ups.
"""
from __future__ import annotations

import csv
import math
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from ..arch.schema import Arch
from ..dataflow.flows import FLOWS

BRAM_KIB = {"xcup": 4.5, "ecp5": 2.25}   # RAMB36E2: 36 Kb; DP16KD: 18 Kb
AREA_FAMILY = "xcup"                       # the VCU1525's UltraScale+


class Synthesised(NamedTuple):
    """One PE array of the resource table: what it is and its yosys cell counts."""
    pe: str
    family: str
    dataflow: str
    lanes: int
    rows: int
    cols: int
    LUT: int
    FF: int
    DSP: int


@lru_cache(maxsize=1)
def resource_table() -> tuple[Synthesised, ...]:
    """The table's rows, in file order (read once per process)."""
    with resources.files("sparseloom.explore").joinpath("rtl_resources.csv").open() as f:
        return tuple(Synthesised(row["pe"], row["family"], row["dataflow"],
                                 *(int(row[k]) for k in ("lanes", "rows", "cols", "LUT", "FF", "DSP")))
                     for row in csv.DictReader(f))


@lru_cache(maxsize=None)
def _largest(family: str, dataflow: str, pe: str) -> dict[int, Synthesised]:
    """Per multiplexer width (lanes), the first row of the largest synthesised arrays (most rows)."""
    rows = [r for r in resource_table() if (r.family, r.dataflow, r.pe) == (family, dataflow, pe)]
    if not rows:
        raise ValueError(f"rtl_resources.csv has no {pe} {dataflow} PE arrays on {family} to price the PEs by")
    most = max(r.rows for r in rows)
    by_lanes: dict[int, Synthesised] = {}
    for r in rows:
        if r.rows == most:
            by_lanes.setdefault(r.lanes, r)
    return dict(sorted(by_lanes.items()))


# the datapath of an arch's (operand, accumulator) dtypes: the table's ``pe`` rows that price it
PE_OF_DTYPES = {("int8", "int32"): "int8_int32", ("fp16", "fp32"): "fp16_fp32"}


def pe_of(arch: Arch) -> str:
    dtypes = (arch.array.operand_dtype, arch.array.accumulator_dtype)
    if dtypes not in PE_OF_DTYPES:
        raise ValueError(f"{arch.name}: no synthesised PE prices {'/'.join(dtypes)} operands/accumulators "
                         f"(rtl_resources.csv has {', '.join('/'.join(d) for d in PE_OF_DTYPES)})")
    return PE_OF_DTYPES[dtypes]


def per_pe(family: str, dataflow: str, lanes: int, pe: str = "int8_int32") -> dict[str, float]:
    largest = _largest(family, dataflow, pe)

    def cost(lane_count: int) -> dict[str, float]:
        row = largest[lane_count]
        size = row.rows * row.cols
        return {"lut": row.LUT / size, "ff": row.FF / size, "dsp": row.DSP / size}

    available = list(largest)
    covering = [lane for lane in available if lane >= lanes]
    if covering:
        return cost(covering[0])
    low, high = cost(available[-2]), cost(available[-1])
    step = (available[-1] - available[-2])
    return {k: high[k] + (high[k] - low[k]) / step * (lanes - available[-1]) for k in high}


def area(arch: Arch, family: str = "xcup") -> dict[str, float]:
    pes = arch.pes
    pe = pe_of(arch)
    costs = [per_pe(family, FLOWS[flow].area_proxy, arch.sparsity.max_m, pe) for flow in arch.array.dataflows]
    array = {k: max(c[k] for c in costs) * pes for k in ("lut", "ff", "dsp")}
    bram = sum(max(b.banks, math.ceil(b.size_kib / BRAM_KIB[family])) for b in arch.buffers)
    return {**{k: round(v) for k, v in array.items()}, "bram": bram}
