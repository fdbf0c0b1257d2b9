"""The architecture description: one YAML file describes one accelerator completely.

Every number carries its unit in its key name. :func:`load_arch` rejects unknown keys, missing
keys, wrong types and impossible values with an error naming the file, key path and expectation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, Optional

from ..core.errors import InputError
from ..core.typed_yaml import check, load, within
from . import technology as tech

Dataflow = Literal["weight_stationary", "output_stationary", "input_stationary"]
DType = Literal["int8", "int16", "int32", "fp16", "bf16", "fp32"]
Operand = Literal["input", "weight", "output"]

# physical bounds of the numbers (validation only: a value outside is refused with its range)
_CYCLES = check(lambda v: 1e-3 <= v <= 10_000, "a number from 0.001 to 10,000 cycles")
_PJ = within(0, 1e6, "pJ")

DTYPE_BYTES = {"int8": 1, "int16": 2, "int32": 4, "fp16": 2, "bf16": 2, "fp32": 4}
"""Bytes per element of each datatype."""


@dataclass(frozen=True, order=True)
class NMPattern:
    """N nonzeros kept in every group of M consecutive elements; dense is N == M."""

    n: int
    m: int

    @classmethod
    def parse(cls, text: str) -> "NMPattern":
        """Parse ``"2:8"`` or ``"dense"`` (an ``ValueError`` names what was expected)."""
        if text.strip().lower() == "dense":
            return cls(1, 1)
        try:
            n, m = (int(p) for p in text.split(":"))
        except ValueError:
            raise ValueError(f"expected 'N:M' (for example '2:8') or 'dense', got {text!r}") from None
        if not 1 <= n <= m:
            raise ValueError(f"expected 1 <= N <= M in 'N:M', got {text!r}")
        return cls(n, m)

    @property
    def dense(self) -> bool:
        return self.n == self.m

    @property
    def density(self) -> float:
        return self.n / self.m

    def satisfied_by(self, other: "NMPattern") -> bool:
        """True if every tensor that is ``other``-sparse is also ``self``-sparse.

        The worst ``other``-sparse tensor puts as many nonzeros as it may into one aligned group
        of ``self.m``: for each group of ``other.m`` that the window overlaps, ``min(other.n,
        overlap)``. ``self`` holds it if no window (over one period of both groupings) exceeds
        ``self.n``: a 4:8 array runs a 1:2 tensor, a 2:4 array a 2:8 one, a 1:4 array not a 2:8 one.
        """
        if self.dense:
            return True
        period = math.lcm(self.m, other.m)
        for start in range(0, period, self.m):
            end, worst = start + self.m, 0
            for group in range(start // other.m * other.m, end, other.m):
                worst += min(other.n, min(end, group + other.m) - max(start, group))
            if worst > self.n:
                return False
        return True

    def __str__(self) -> str:
        return "dense" if self.dense else f"{self.n}:{self.m}"


DENSE = NMPattern(1, 1)


@dataclass(frozen=True)
class Array:
    rows: int = field(metadata=within(1, 4096, "PEs"))
    cols: int = field(metadata=within(1, 4096, "PEs"))
    dataflows: list[Dataflow]
    operand_dtype: DType
    accumulator_dtype: DType
    accumulator_latency_cycles: int = field(metadata=within(1, 1024, "cycles"))
    weight_double_buffer: bool
    # register stages of each PE's multiply-accumulate: 1 = selected operand, multiply and add in
    # one cycle; 2 also registers the M:1 multiplexer's output (and the weight); 3 also the
    # product; more add product registers. Every product reaches the adder stages - 1 cycles later
    # (the timing of each dataflow says where that counts)
    mac_pipeline_stages: int = field(default=1, metadata=within(1, 64, "stages"))

    def problems(self):
        if not self.dataflows:
            yield "dataflows", "expected at least one of weight_stationary, output_stationary, input_stationary"
        if len(set(self.dataflows)) != len(self.dataflows):
            yield "dataflows", "expected each dataflow listed once"


@dataclass(frozen=True)
class Sparsity:
    nm_patterns: list[str]
    max_m: int = field(metadata=within(1, 1024))
    activation_skipping: bool   # skip zero activations/gradients: OS rows skip them, WS gates the MAC
    # how unstructured weights are stored, if at all: per-column CSR or bitmap, or block (weight
    # tiles of R rows that are all zero are skipped; kept tiles run dense)
    unstructured_format: Literal["none", "bitmap", "csr", "block"] = "none"
    # a fixed index width the hardware stores per kept value; omitted: ceil(log2 M) of the pattern
    # each GEMM executes (a 2:4 GEMM on an 8-wide array stores 2 bits, not 3)
    index_bits_per_nonzero: Optional[int] = field(default=None, metadata=within(0, 64, "bits"))
    # load-as-sparse, compute-as-dense (Flash-LLM): N:M weights stay compressed in their own
    # pattern in DRAM and the weight buffer even where the array executes a denser one, and a
    # decompressor expands them between the weight buffer and the array at this many dense
    # elements per cycle
    load_compressed: bool = False
    decompress_elements_per_cycle: float = field(default=0.0, metadata=check(
        lambda v: v == 0 or 1e-3 <= v <= 1e6, "0 (none) or a number from 0.001 to 1,000,000 elements per cycle"))

    def problems(self):
        parsed = []
        for i, text in enumerate(self.nm_patterns):
            try:
                parsed.append(NMPattern.parse(text))
            except ValueError as exc:
                yield f"nm_patterns[{i}]", str(exc)
                return
            if parsed[-1].m > self.max_m:
                yield f"nm_patterns[{i}]", f"expected M <= max_m ({self.max_m}), got {text!r}"
        if not any(p.dense for p in parsed):
            yield "nm_patterns", "expected a dense entry ('dense' or N == M) so dense layers can run"
        if self.load_compressed and not self.decompress_elements_per_cycle > 0:
            yield "decompress_elements_per_cycle", "expected a number > 0 with load_compressed: true"
        need = math.ceil(math.log2(self.max_m)) if self.max_m > 1 else 0
        if self.index_bits_per_nonzero is not None and self.index_bits_per_nonzero < need:
            yield "index_bits_per_nonzero", f"expected >= ceil(log2(max_m)) = {need} bits to address {self.max_m} positions"

    @cached_property
    def patterns(self) -> list[NMPattern]:
        return [NMPattern.parse(p) for p in self.nm_patterns]


@dataclass(frozen=True)
class Buffer:
    name: str
    holds: list[Operand]
    size_kib: float = field(metadata=within(1 / 1024, 1 << 20, "KiB"))   # 1 B to 1 GiB
    banks: int = field(metadata=within(1, 65536))   # a whole GPU's shared memory: 132 SMs x 32 banks
    ports: int = field(metadata=within(1, 64))
    width_bits: int = field(metadata=check(lambda v: 0 < v <= 8192 and v % 8 == 0, "a positive multiple of 8, at most 8192"))
    double_buffered: bool

    @property
    def size_bytes(self) -> int:
        return int(self.size_kib * 1024)

    @property
    def usable_bytes(self) -> int:
        """Bytes a tile may occupy: half of a double-buffered buffer (the other half is loading)."""
        return self.size_bytes // 2 if self.double_buffered else self.size_bytes

    @property
    def bytes_per_cycle(self) -> int:
        """Peak bandwidth: every bank's every port moves one word per cycle."""
        return self.banks * self.ports * self.width_bits // 8


@dataclass(frozen=True)
class Dram:
    """Off-chip memory. Beside the peak rate, what keeps a channel from reaching it
    (:mod:`sparseloom.sim.dram`): refresh (``tRFC`` out of every ``tREFI``), the part of each
    row switch that bank interleaving does not hide, and read/write bus turnarounds, two per
    batch of ``write_batch_bytes`` the controller drains at a time."""

    kind: str
    channels: int = field(metadata=within(1, 256))
    channel_bandwidth_gbyte_s: float = field(metadata=within(1e-3, 10_000, "GB/s"))
    access_latency_ns: float = field(metadata=within(0, 1e6, "ns"))
    burst_bytes: int = field(metadata=within(1, 1 << 20, "B"))
    refresh_interval_ns: float = field(metadata=within(1, 1e9, "ns"))         # tREFI
    refresh_cycle_ns: float = field(metadata=within(0, 1e9, "ns"))            # tRFC: the channel is blocked this long per tREFI
    row_bytes: int = field(metadata=within(1, 1 << 24, "B"))                  # bytes of one open row (page) across the channel
    row_switch_ns: float = field(metadata=within(0, 1e6, "ns"))               # exposed precharge + activate per row streamed
    turnaround_ns: float = field(metadata=within(0, 1e6, "ns"))               # one read<->write bus turnaround
    write_batch_bytes: int = field(metadata=within(1, 1 << 30, "B"))          # writes drained per turnaround pair

    def problems(self):
        if self.refresh_cycle_ns >= self.refresh_interval_ns:
            yield "refresh_cycle_ns", f"expected less than refresh_interval_ns ({self.refresh_interval_ns})"

    @property
    def bandwidth_gbyte_s(self) -> float:
        return self.channels * self.channel_bandwidth_gbyte_s


@dataclass(frozen=True)
class PruningUnit:
    lanes: int = field(metadata=within(1, 65536))
    cycles_per_element: int = field(metadata=within(1, 10_000, "cycles"))


@dataclass(frozen=True)
class WeightUpdate:
    """The optimizer's engine: SGD with momentum at ``cycles_per_element``; AdamW (two moments,
    a square root and a divide per weight) at ``adamw_cycles_per_element`` where it can run it."""

    lanes: int = field(metadata=within(1, 65536))
    precision: DType
    cycles_per_element: int = field(metadata=within(1, 10_000, "cycles"))
    adamw_cycles_per_element: Optional[int] = field(default=None, metadata=within(1, 10_000, "cycles"))


@dataclass(frozen=True)
class VectorCosts:
    """Cycles one lane spends per element, by operator class (:mod:`sparseloom.dataflow.ops`)."""

    elementwise: float = field(metadata=_CYCLES)     # ReLU, residual add, scaling
    normalize: float = field(metadata=_CYCLES)       # one pass of batch-norm or LayerNorm
    transcendental: float = field(metadata=_CYCLES)  # GELU, softmax, the loss (exp, erf)
    pooling: float = field(metadata=_CYCLES)         # per input element of a max or average window
    mac: float = field(metadata=_CYCLES)             # one multiply-accumulate of a GEMM run on the lanes


@dataclass(frozen=True)
class VectorEngine:
    """The engine of the non-GEMM operators, and how they are fused.

    ``fusion``: ``none`` (every operator reads its inputs from DRAM and writes its output back),
    ``bn_relu`` (cuDNN-like: batch-norm's apply pass, a residual add and ReLU in one pass; scaling
    into the softmax after it), ``array_output`` (``bn_relu``, and the elementwise operators right
    after a GEMM, batch-norm's statistics included, run in the array's output path).
    ``runs_gemms``: the mapping search may run a GEMM on the lanes (depthwise convolutions).
    """

    lanes: int = field(metadata=within(1, 65536))
    precision: DType
    cycles_per_element: VectorCosts
    fusion: Literal["none", "bn_relu", "array_output"]
    runs_gemms: bool


@dataclass(frozen=True)
class Energy:
    mac_pj: float = field(metadata=_PJ)
    buffer_read_pj_per_byte: float = field(metadata=_PJ)
    buffer_write_pj_per_byte: float = field(metadata=_PJ)
    dram_pj_per_byte: float = field(metadata=_PJ)
    prune_pj_per_element: float = field(metadata=_PJ)
    update_pj_per_element: float = field(metadata=_PJ)
    vector_pj_per_element: float = field(metadata=_PJ)   # one lane operation of the vector engine
    # the device (arch/technology/<name>.yaml: an FPGA part or an ASIC node) and the DRAM devices:
    # static, clock-tree, operand-movement and DRAM background power (sparseloom.arch.technology);
    # omitted: those terms are not modelled
    technology: Optional[str] = None
    dram_technology: Optional[str] = None

    def problems(self):
        for key, read in (("technology", tech.device), ("dram_technology", tech.dram_devices)):
            name = getattr(self, key)
            if name is None:
                continue
            if name not in tech.names():
                yield key, f"expected one of {', '.join(tech.names())} (arch/technology/*.yaml), got {name!r}"
                continue
            try:
                read(name)
            except InputError as exc:
                yield key, f"{name} is not a {key.replace('_', ' ')} file: {exc}"


@dataclass(frozen=True)
class Control:
    """Fixed costs of running a schedule: a descriptor per GEMM or vector job, a barrier
    wherever a job waits for another engine's result."""

    job_launch_cycles: int = field(metadata=within(0, 10**6, "cycles"))
    barrier_cycles: int = field(metadata=within(0, 10**6, "cycles"))


@dataclass(frozen=True)
class DataflowOptions:
    interleave: bool
    pregenerate: bool
    offline_schedule: bool


@dataclass(frozen=True)
class Rtl:
    """The integer datapath the RTL generators build for an integer arch (an fp16/fp32 arch builds the
    FP16 x FP16 -> FP32 PE and has no rtl section)."""

    operand_bits: int = field(metadata=check(lambda v: 2 <= v <= 32, "an integer from 2 to 32"))
    accumulator_bits: int = field(metadata=check(lambda v: 4 <= v <= 64, "an integer from 4 to 64"))

    def problems(self):
        if self.accumulator_bits < 2 * self.operand_bits:
            yield "accumulator_bits", f"expected at least 2 x operand_bits ({2 * self.operand_bits}) to hold a product"


@dataclass(frozen=True)
class Arch:
    name: str
    clock_mhz: float = field(metadata=within(1, 10_000, "MHz"))
    array: Array
    sparsity: Sparsity
    buffers: list[Buffer]
    dram: Dram
    pruning_unit: PruningUnit
    weight_update: WeightUpdate
    vector_engine: VectorEngine
    energy: Energy
    control: Control
    dataflow_options: DataflowOptions
    description: str = ""
    rtl: Optional[Rtl] = None

    def problems(self):
        names = [b.name for b in self.buffers]
        if len(set(names)) != len(names):
            yield "buffers", "expected unique buffer names"
        for operand in ("input", "weight", "output"):
            holders = [b.name for b in self.buffers if operand in b.holds]
            if len(holders) != 1:
                yield "buffers", f"expected exactly one buffer holding '{operand}', found {len(holders) or 'none'}"

    def buffer_for(self, operand: str) -> Buffer:
        return next(b for b in self.buffers if operand in b.holds)

    @property
    def mapping_dataflows(self) -> list[str]:
        """The dataflows a GEMM may be mapped in: the array's, and the vector lanes where they run GEMMs."""
        return self.array.dataflows + (["vector_lanes"] if self.vector_engine.runs_gemms else [])

    @property
    def pes(self) -> int:
        return self.array.rows * self.array.cols

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram.bandwidth_gbyte_s * 1e3 / self.clock_mhz

    @property
    def operand_bytes(self) -> int:
        return DTYPE_BYTES[self.array.operand_dtype]

    @property
    def accumulator_bytes(self) -> int:
        return DTYPE_BYTES[self.array.accumulator_dtype]


def load_arch(path: str | Path) -> Arch:
    """Load and validate an architecture file."""
    return load(Arch, path)
