"""A design point's cells, pins and fmax beyond the PE array and buffers of :mod:`.area`: the
parts that depend on the other swept parameters, from the device file the arch names
(``energy.technology``, :mod:`sparseloom.arch.technology`).

- MAC pipeline stages: ``ff_per_pe_per_stage`` flip-flops per PE for every stage beyond the one
  the resource table was synthesised with (measured: the 4x4 int8 8:1 engine, 1 and 3 stages);
- dataflow flexibility: an array with more than one dataflow adds a second controller
  (``flexible_fixed``) and an operand switch per PE (``flexible_per_pe``) to the dearest
  dataflow's array (measured: the flexible 4x4 engine against the output-stationary one);
- DRAM channels: one memory controller and PHY each (cells and package pins);
- fmax: the PE's critical path at its pipeline depth and multiplexer width
  (:meth:`~sparseloom.arch.technology.Device.fmax_mhz`); a clock above it is not buildable
  without more stages;
- capacity: a design that needs more cells than its part has (the device file's ``capacity``)
  is not buildable on it (:func:`fit_problem`).

Without a device file, or on an ASIC, the cells are the resource table's (``AREA_FAMILY``) alone.
"""
from __future__ import annotations

from typing import Optional

from ..arch.schema import Arch
from ..arch.technology import Device, device
from .area import AREA_FAMILY, PE_OF_DTYPES, area

RESOURCE_TABLE_STAGES = 1    # explore/rtl_resources.csv: python -m sparseloom.rtl.resources builds 1-stage PEs
CLOCK_ABOVE_FMAX = "clock above fmax"   # how :func:`clock_problem`'s reason starts
DOES_NOT_FIT = "does not fit"           # how :func:`fit_problem`'s reason starts


def fpga_device(arch: Arch) -> Optional[Device]:
    """The arch's device if it is an FPGA (its cells are what the area model counts)."""
    dev = device(arch.energy.technology) if arch.energy.technology else None
    return dev if dev is not None and dev.kind == "fpga" else None


def design_area(arch: Arch) -> dict[str, float]:
    """LUTs, FFs, DSPs, block RAMs and I/O pins of the whole design on the arch's FPGA family."""
    dev = fpga_device(arch)
    cells = area(arch, dev.area_family if dev else AREA_FAMILY)
    if dev is None:
        return {**cells, "io": 0}
    channels, pes = arch.dram.channels, arch.pes
    extra = {"ff": dev.ff_per_pe_per_stage * max(arch.array.mac_pipeline_stages - RESOURCE_TABLE_STAGES, 0) * pes}
    if len(arch.array.dataflows) > 1:
        for key in set(dev.flexible_fixed) | set(dev.flexible_per_pe):
            extra[key] = extra.get(key, 0.0) + dev.flexible_fixed.get(key, 0.0) + dev.flexible_per_pe.get(key, 0.0) * pes
    for key, per_channel in dev.memory_controller.resources.items():
        extra[key] = extra.get(key, 0.0) + per_channel * channels
    return {**{k: round(v + extra.get(k, 0.0)) for k, v in cells.items()}, "io": dev.memory_controller.pins * channels}


MODELLED_PATH_PE = "int8_int32"   # the datapath the device files' critical paths were measured on


def fmax_mhz(arch: Arch) -> Optional[float]:
    """The clock the arch's PE reaches on its device, or None where the device models no path or
    the arch's PE is not the integer datapath the path was measured on (:func:`fmax_note`)."""
    if not arch.energy.technology or not integer_pe(arch):
        return None
    return device(arch.energy.technology).fmax_mhz(arch.array.mac_pipeline_stages, arch.sparsity.max_m)


def integer_pe(arch: Arch) -> bool:
    return PE_OF_DTYPES.get((arch.array.operand_dtype, arch.array.accumulator_dtype)) == MODELLED_PATH_PE


def fmax_note(arch: Arch) -> Optional[str]:
    """Why a floating-point arch has no fmax: its PE's clock is not backed by a modelled path."""
    if not arch.energy.technology or integer_pe(arch):
        return None
    return (f"no PE fmax for {arch.array.operand_dtype}/{arch.array.accumulator_dtype} PEs: the critical paths of "
            f"{device(arch.energy.technology).name} are the int8 PE's; the generated FP16/FP32 PE (a one-cycle FP32 "
            f"partial-sum add) reaches 20.1 MHz on ECP5 at 2x2 (README, Hardware), so clock_mhz "
            f"{arch.clock_mhz:g} is not backed by this project's RTL")


def clock_problem(arch: Arch) -> Optional[str]:
    """Why the arch's clock is not buildable, or None."""
    fmax = fmax_mhz(arch)
    if fmax is None or arch.clock_mhz <= fmax * (1 + 1e-9):
        return None
    return (f"{CLOCK_ABOVE_FMAX}: clock_mhz {arch.clock_mhz:g} is above the {fmax:.1f} MHz the PE reaches on "
            f"{device(arch.energy.technology).name} at {arch.array.mac_pipeline_stages} MAC stage(s) with "
            f"{arch.sparsity.max_m}:1 multiplexers; raise array.mac_pipeline_stages or lower the clock")


def fit_problem(arch: Arch) -> Optional[str]:
    """Why the design does not fit its FPGA (each resource :func:`design_area` counts beyond the
    part's ``capacity``), or None."""
    dev = fpga_device(arch)
    if dev is None or not dev.capacity:
        return None
    cells = design_area(arch)
    over = [f"{key} {cells[key]:,.0f} of {limit:,.0f}" for key, limit in dev.capacity.items() if cells[key] > limit]
    if not over:
        return None
    return (f"{DOES_NOT_FIT}: the design needs more than {dev.name} has ({', '.join(over)}); "
            f"shrink the array or the buffers, or name a larger part in energy.technology")
