"""The power model of a design point: the counted actions' energy (``Result.totals``) plus the
power the design draws whatever it does, over the iteration's time.

    total energy = counted actions (MACs, operand movement, buffers, DRAM accesses, vector
                   engine, pruning and update) + (static + clock + DRAM background + memory
                   controllers) x time

- static: the device's own (``static_w``) plus its power-gated blocks the design turns on
  (``static_mw_per`` resource); independent of the clock;
- clock tree: ``clock_base_mw_per_mhz`` plus ``clock_uw_per_mhz`` per clocked resource, times the
  clock: halving the clock halves it;
- DRAM background: per channel, the devices' active-standby current (IDD3N) at VDD, and refresh's
  extra current (IDD5B - IDD3N) for tRFC of every tREFI (the arch's own DRAM timings);
- memory controllers: per channel, the controller's and PHY's power.

Resources are the design's cells on an FPGA (:func:`.fabric.design_area`) and its PEs and KiB of
SRAM on an ASIC. Coefficients come from the files the arch's ``energy`` section names
(:mod:`sparseloom.arch.technology`); a term whose file is not named is 0 and a note says so.
"""
from __future__ import annotations

from ..arch.schema import Arch
from ..arch.technology import device, dram_devices
from ..sim.columns import Column
from .fabric import clock_problem, design_area, fit_problem, fmax_mhz, fmax_note

POWER = tuple(Column(*spec) for spec in (
    ("total_energy_uj", "uJ", "one iteration: the counted actions' energy and static, clock, DRAM background and memory-controller power over its time"),
    ("average_power_w", "W", "total energy over the iteration's time"),
    ("gops_per_w", "GOPS/W", "useful operations (2 per useful MAC) per second per watt"),
    ("dense_equivalent_gops_per_w", "GOPS/W", "the dense iteration's operations (2 per dense MAC) per second per watt"),
    ("pj_per_useful_mac", "pJ", "total energy per useful MAC"),
    ("power_static_w", "W", "device static power and the power-gated blocks in use"),
    ("power_clock_w", "W", "clock tree at the arch's clock"),
    ("power_dynamic_w", "W", "the counted actions' energy over the iteration's time"),
    ("power_dram_background_w", "W", "DRAM devices' standby and refresh power, all channels"),
    ("power_memory_controller_w", "W", "memory controllers and PHYs, all channels"),
    ("energy_static_uj", "uJ", "static power over the iteration"),
    ("energy_clock_uj", "uJ", "clock-tree power over the iteration"),
    ("energy_array_uj", "uJ", "MACs and operand movement in the array (energy_compute_uj + energy_movement_uj)"),
    ("energy_dram_background_uj", "uJ", "DRAM standby and refresh over the iteration"),
    ("energy_memory_controller_uj", "uJ", "memory controllers over the iteration"),
    ("fmax_mhz", "MHz", "the clock the PE's RTL reaches at its MAC pipeline depth on the device (empty: not modelled)"),
))
POWER_METRICS = tuple(c.name for c in POWER)


def resources(arch: Arch) -> dict[str, float]:
    """What static and clock power are charged per, on the arch's device."""
    if device(arch.energy.technology).kind == "fpga":
        return design_area(arch)
    return {"pe": arch.pes, "sram_kib": sum(b.size_kib for b in arch.buffers)}


def power_parts(arch: Arch) -> dict[str, float]:
    """The power (W) the design draws at its clock whatever it computes, by part."""
    parts = {"static": 0.0, "clock": 0.0, "dram_background": 0.0, "memory_controller": 0.0}
    e, dram = arch.energy, arch.dram
    if e.technology:
        dev, used = device(e.technology), resources(arch)
        parts["static"] = dev.static_w + sum(mw * used.get(k, 0) for k, mw in dev.static_mw_per.items()) / 1e3
        per_mhz_w = dev.clock_base_mw_per_mhz / 1e3 + sum(uw * used.get(k, 0) for k, uw in dev.clock_uw_per_mhz.items()) / 1e6
        parts["clock"] = per_mhz_w * arch.clock_mhz
        parts["memory_controller"] = dev.memory_controller.power_w * dram.channels
    if e.dram_technology:
        d = dram_devices(e.dram_technology)
        refresh_share = dram.refresh_cycle_ns / dram.refresh_interval_ns
        parts["dram_background"] = dram.channels * d.vdd_v * (d.background_ma_per_channel + d.refresh_ma_per_channel * refresh_share) / 1e3
    return parts


def power_totals(arch: Arch, totals: dict) -> dict[str, float | None]:
    """:data:`POWER` for one simulated iteration (``totals``: ``Result.totals``)."""
    seconds = totals["time_ms"] / 1e3
    parts = power_parts(arch)
    over_time = {f"energy_{name}_uj": watts * seconds * 1e6 for name, watts in parts.items()}
    total_uj = totals["energy_uj"] + sum(over_time.values())
    total_j = total_uj / 1e6
    fmax = fmax_mhz(arch)
    values = {
        "total_energy_uj": total_uj,
        "average_power_w": total_j / seconds,
        "gops_per_w": 2 * totals["useful_macs"] / total_j / 1e9,
        "dense_equivalent_gops_per_w": 2 * totals["dense_macs"] / total_j / 1e9,
        "pj_per_useful_mac": total_uj * 1e6 / max(totals["useful_macs"], 1),
        **{f"power_{name}_w": watts for name, watts in parts.items()},
        "power_dynamic_w": totals["energy_uj"] / 1e6 / seconds,
        **over_time,
        "energy_array_uj": totals["energy_compute_uj"] + totals["energy_movement_uj"],
        "fmax_mhz": fmax,
    }
    return {name: values[name] for name in POWER_METRICS}


def power_notes(arch: Arch) -> list[str]:
    """What the power model leaves out for this arch, a clock above its fmax and a design larger
    than its FPGA."""
    notes = []
    if arch.energy.technology is None:
        notes.append("no energy.technology named: static, clock-tree, operand-movement and memory-controller power are not modelled")
    if arch.energy.dram_technology is None:
        notes.append("no energy.dram_technology named: DRAM background and refresh power are not modelled")
    problems = [p for p in (clock_problem(arch), fit_problem(arch)) if p]
    unbacked = fmax_note(arch)
    return notes + [f"not buildable as is: {p}" for p in problems] + ([unbacked] if unbacked else [])
