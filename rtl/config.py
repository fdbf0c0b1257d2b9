"""RTL parameters: the array, sparsity and PE datapath of an arch file (fp16/fp32, or the integer one of its ``rtl`` section)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..arch.schema import Arch
from ..core.errors import InputError
from .datapath import datapath


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
    # the PE's datapath (``.datapath.PES``): "int" (op_bits x op_bits -> acc_bits integers) or
    # "fp16_fp32" (FP16 products accumulated in FP32, op_bits 16 and acc_bits 32)
    pe: str = "int"

    @property
    def datapath(self):
        return datapath(self.pe, self.op_bits, self.acc_bits)

    @property
    def index_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.lanes)))

    def resized(self, rows: int, cols: int) -> "RtlConfig":
        return replace(self, rows=rows, cols=cols)


FLOAT_PES = {("fp16", "fp32"): ("fp16_fp32", 16, 32)}     # (operand, accumulator dtype) -> PE, bits


def rtl_config(arch: Arch, source: str = "arch") -> RtlConfig:
    """The arch's array, sparsity and datapath: its fp16/fp32 dtypes build the ``fp16_fp32`` PE
    (no ``rtl`` section then); an integer arch builds the integer PE its ``rtl`` section sizes."""
    a = arch.array
    dtypes = (a.operand_dtype, a.accumulator_dtype)
    if dtypes in FLOAT_PES:
        if arch.rtl is not None:
            raise InputError(source, "rtl", f"array.operand_dtype/accumulator_dtype are {'/'.join(dtypes)}, "
                                            f"built as the {FLOAT_PES[dtypes][0]} PE; the rtl section (an "
                                            "integer datapath) contradicts them: remove it")
        pe, op_bits, acc_bits = FLOAT_PES[dtypes]
    elif not a.operand_dtype.startswith("int"):
        raise InputError(source, "array.operand_dtype", f"no PE for {'/'.join(dtypes)} operands/accumulators "
                                                        "(the RTL builds fp16/fp32 and integer datapaths)")
    elif arch.rtl is None:
        raise InputError(source, "rtl", "missing section: the RTL generators need rtl.operand_bits and "
                                        "rtl.accumulator_bits (an integer datapath)")
    else:
        pe, op_bits, acc_bits = "int", arch.rtl.operand_bits, arch.rtl.accumulator_bits
    return RtlConfig(a.rows, a.cols, arch.sparsity.max_m, op_bits, acc_bits, a.accumulator_latency_cycles,
                     a.weight_double_buffer, a.mac_pipeline_stages, pe)
