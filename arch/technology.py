"""Technology files: the device an arch is built on and its DRAM devices.

An arch's ``energy`` section names them: ``technology`` (an FPGA part or an ASIC node: static
power, clock-tree power per MHz and per clocked resource, the energy of a register bit and a
multiplexer input in its fabric, the PE's critical path by MAC pipeline depth, and what a DRAM
channel's controller costs) and ``dram_technology`` (the DRAM devices on each channel: their
background and refresh currents). The files ship as package data in ``arch/technology/``; each
coefficient's comment says its source or "estimate". :mod:`sparseloom.explore.power` and
:mod:`sparseloom.explore.fabric` use them; ``sim/cost.py`` the fabric energies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal, Optional

from ..core.typed_yaml import NON_NEGATIVE, POSITIVE, build, read_yaml

FPGA_RESOURCES = ("lut", "ff", "dsp", "bram")
ASIC_RESOURCES = ("pe", "sram_kib")
"""What static and clock power are charged per: an FPGA's used cells, an ASIC's PEs and SRAM."""


@dataclass(frozen=True)
class CriticalPath:
    """Register-to-register delays of a PE (ns), from which its fmax follows by MAC pipeline depth
    (``array.mac_pipeline_stages`` = P): P = 1, the multiplexer tree (ceil(log2 M) levels of 2:1)
    then multiply and add; P = 2, multiply and add; P >= 3, the block RAM read into a fabric
    register, which deeper pipelines do not shorten. P >= 2 is never faster than the RAM read."""

    multiply_add_ns: float = field(metadata=POSITIVE)
    mux_level_ns: float = field(metadata=NON_NEGATIVE)
    memory_read_ns: float = field(metadata=POSITIVE)

    def period_ns(self, stages: int, max_m: int) -> float:
        levels = math.ceil(math.log2(max_m)) if max_m > 1 else 0
        if stages == 1:
            return max(levels * self.mux_level_ns + self.multiply_add_ns, self.memory_read_ns)
        if stages == 2:
            return max(self.multiply_add_ns, self.memory_read_ns)
        return self.memory_read_ns


@dataclass(frozen=True)
class MemoryController:
    """One DRAM channel's controller and PHY on the device: its power while the design runs, its
    cells (FPGA: the soft controller) and the package pins its interface takes."""

    power_w: float = field(metadata=NON_NEGATIVE)
    resources: dict[str, float]
    pins: int = field(metadata=NON_NEGATIVE)


@dataclass(frozen=True)
class Device:
    """An FPGA part or an ASIC node. Power per resource is keyed by :data:`FPGA_RESOURCES` or
    :data:`ASIC_RESOURCES` (``kind``)."""

    name: str
    kind: Literal["fpga", "asic"]
    static_w: float = field(metadata=NON_NEGATIVE)              # the device's own, whatever it runs
    static_mw_per: dict[str, float]                              # power-gated blocks a design turns on
    clock_base_mw_per_mhz: float = field(metadata=NON_NEGATIVE)  # global buffers and spines
    clock_uw_per_mhz: dict[str, float]                           # per clocked resource
    register_pj_per_bit: float = field(metadata=NON_NEGATIVE)    # a register bit taking a new value, its wire to the next included
    mux_pj_per_input_bit: float = field(metadata=NON_NEGATIVE)   # one multiplexer input bit that switches
    memory_controller: MemoryController
    area_family: Optional[str] = None                            # FPGA: the family of explore/rtl_resources.csv
    critical_path: Optional[CriticalPath] = None                 # None: fmax not modelled
    ff_per_pe_per_stage: float = field(default=0.0, metadata=NON_NEGATIVE)   # registers one more MAC stage adds to a PE
    flexible_fixed: dict[str, float] = field(default_factory=dict)           # a second dataflow's controller, once
    flexible_per_pe: dict[str, float] = field(default_factory=dict)          # and its operand switch in every PE
    capacity: dict[str, float] = field(default_factory=dict)                 # FPGA: the part's cells and pins a design must fit in

    def problems(self):
        names = FPGA_RESOURCES if self.kind == "fpga" else ASIC_RESOURCES
        for where, table in (("static_mw_per", self.static_mw_per), ("clock_uw_per_mhz", self.clock_uw_per_mhz),
                             ("memory_controller.resources", self.memory_controller.resources),
                             ("flexible_fixed", self.flexible_fixed), ("flexible_per_pe", self.flexible_per_pe)):
            for key, value in table.items():
                if key not in names:
                    yield f"{where}.{key}", f"expected one of {', '.join(names)} for a {self.kind}"
                elif not value >= 0:
                    yield f"{where}.{key}", "expected a number >= 0"
        for key, value in self.capacity.items():
            if self.kind != "fpga" or key not in (*FPGA_RESOURCES, "io"):
                yield f"capacity.{key}", f"expected one of {', '.join((*FPGA_RESOURCES, 'io'))} (an FPGA's cells and pins)"
            elif not value > 0:
                yield f"capacity.{key}", "expected a number > 0"
        if self.kind == "fpga" and not self.area_family:
            yield "area_family", "expected the resource table's family (xcup, ecp5) for an FPGA"

    def fmax_mhz(self, stages: int, max_m: int) -> Optional[float]:
        """The clock the PE's RTL reaches at this pipeline depth and multiplexer width."""
        return 1e3 / self.critical_path.period_ns(stages, max_m) if self.critical_path else None


@dataclass(frozen=True)
class DramDevices:
    """The DRAM devices of one channel (all its ranks): background power is the active-standby
    current (IDD3N) at VDD the whole time; refresh adds (IDD5B - IDD3N) for tRFC of every tREFI
    (the arch's ``dram.refresh_cycle_ns`` and ``refresh_interval_ns``)."""

    name: str
    vdd_v: float = field(metadata=POSITIVE)
    background_ma_per_channel: float = field(metadata=NON_NEGATIVE)
    refresh_ma_per_channel: float = field(metadata=NON_NEGATIVE)


def names() -> list[str]:
    """The technology files shipped with the package."""
    folder = resources.files("sparseloom.arch").joinpath("technology")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=None)
def _load(name: str, kind: str):
    path = resources.files("sparseloom.arch").joinpath("technology", f"{name}.yaml")
    with resources.as_file(path) as real:
        data = read_yaml(real)
        cls = Device if kind == "device" else DramDevices
        return build(cls, data, str(real))


def device(name: str) -> Device:
    """The device file ``arch/technology/<name>.yaml``."""
    return _load(name, "device")


def dram_devices(name: str) -> DramDevices:
    """The DRAM file ``arch/technology/<name>.yaml``."""
    return _load(name, "dram")
