"""RTL parameters: the array and sparsity of an arch file, with the integer datapath of its ``rtl`` section."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..arch.schema import Arch
from ..core.errors import InputError


@dataclass(frozen=True)
class RtlConfig:
    rows: int
    cols: int
    lanes: int             # the M:1 multiplexer's width: the widest M the array runs
    op_bits: int
    acc_bits: int
    # the whole-GEMM engine's output accumulator: cycles from a partial sum leaving the array to
    # its write (the arch's ``array.accumulator_latency_cycles``); the single-tile arrays of
    # ``arrays.py`` have a one-cycle result register and are timed with 1
    acc_latency: int = 1
    weight_double_buffer: bool = False    # shadow weight registers (``array.weight_double_buffer``)
    # the whole-GEMM engines' PE: register stages of the multiply-accumulate
    # (``array.mac_pipeline_stages``; 1: select, multiply and add in one cycle); the single-tile
    # arrays of ``arrays.py`` have one
    mac_stages: int = 1

    @property
    def index_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.lanes)))

    def resized(self, rows: int, cols: int) -> "RtlConfig":
        return replace(self, rows=rows, cols=cols)


def rtl_config(arch: Arch, source: str = "arch") -> RtlConfig:
    if arch.rtl is None:
        raise InputError(source, "rtl", "missing section: the RTL generators need rtl.operand_bits and "
                                        "rtl.accumulator_bits (an integer datapath)")
    return RtlConfig(arch.array.rows, arch.array.cols, arch.sparsity.max_m, arch.rtl.operand_bits,
                     arch.rtl.accumulator_bits, arch.array.accumulator_latency_cycles,
                     arch.array.weight_double_buffer, arch.array.mac_pipeline_stages)
