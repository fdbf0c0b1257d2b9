"""Off-chip memory time: what a byte read or written costs a channel, and the event DMA.

A channel moves ``channel_bandwidth_gbyte_s`` at peak. Three things keep it below (all in the
arch file's ``dram`` section): refresh blocks it for ``tRFC`` out of every ``tREFI``; streaming
opens a new row every ``row_bytes``, of which ``row_switch_ns`` stays exposed; and writes cost two
bus turnarounds per ``write_batch_bytes`` the controller drains at a time. Each is a cost per byte,
the same in both fidelities, so a transfer's time is linear in its bytes (twice the channels
halve it); the event fidelity adds the queueing of transfers on the channels.
"""
from __future__ import annotations

import math

import numpy as np

from ..arch.schema import Arch


def channel_cycles_per_byte(arch: Arch) -> tuple[float, float]:
    """Cycles one channel spends per byte read and per byte written."""
    d = arch.dram
    per_ns = arch.clock_mhz / 1e3
    peak = 1 / (d.channel_bandwidth_gbyte_s * 1e3 / arch.clock_mhz)
    read = peak / (1 - d.refresh_cycle_ns / d.refresh_interval_ns) + d.row_switch_ns * per_ns / d.row_bytes
    write = read + 2 * d.turnaround_ns * per_ns / d.write_batch_bytes
    return read, write


def dram_cycles(arch: Arch, read_bytes, write_bytes):
    """Cycles all channels together need for these bytes (no queueing; vectorises)."""
    read, write = channel_cycles_per_byte(arch)
    return (np.asarray(read_bytes) * read + np.asarray(write_bytes) * write) / arch.dram.channels


def moved_bytes(tables) -> tuple[float, float]:
    """DRAM bytes read and written by the rows of ``tables`` (GEMMs, vector jobs, side engines)."""
    read = sum(float(t["dram_read_bytes"].sum()) for t in tables if len(t))
    write = sum(float(t["dram_write_bytes"].sum()) for t in tables if len(t))
    return read, write


def peak_floor(arch: Arch, read: float, write: float) -> int:
    """The fewest cycles these bytes can take: all channels at their peak, nothing lost. An
    iteration repeats in no fewer, whatever the overlaps of one iteration with the next."""
    peak = arch.dram.channels * arch.dram.channel_bandwidth_gbyte_s * 1e3 / arch.clock_mhz   # bytes per cycle
    return math.ceil((read + write) / peak)


class Dram:
    """DRAM channels as FIFO queues; a transfer's bursts go to the channels that free up first.

    A channel moves one burst in ``burst_bytes`` times its cycles per byte (read or written); a
    transfer's access latency is paid once, overlapped with other transfers. The channels are
    kept as (the cycle they free up, channel) pairs, taken in that order (ties: the lower channel first).
    """

    def __init__(self, arch: Arch, timeline=None):
        d = arch.dram
        self.free = [(0, channel) for channel in range(d.channels)]
        self.burst = d.burst_bytes
        read, write = channel_cycles_per_byte(arch)
        self.cycles_per_burst = {False: d.burst_bytes * read, True: d.burst_bytes * write}
        self.latency = math.ceil(d.access_latency_ns * arch.clock_mhz / 1e3)
        self.timeline = timeline
        self.plans: dict[bool, dict] = {False: {}, True: {}}   # per direction, bytes -> plan

    def transfer(self, now: int, nbytes: float, write: bool = False) -> int:
        """Cycle at which a transfer of ``nbytes`` issued at ``now`` completes."""
        plans = self.plans[write]
        plan = plans.get(nbytes, False)
        if plan is False:
            plan = plans[nbytes] = self.plan(nbytes, write)
        if plan is None:
            return now
        n, extra, more, fewer = plan
        free, timeline = self.free, self.timeline
        if n < len(free) or extra or timeline:     # else every channel takes the same: in any order
            free.sort()
        end = now
        for i in range(n):
            start, channel = free[i]
            if start < now:
                start = now
            at = start + (more if i < extra else fewer)
            free[i] = at, channel
            if at > end:
                end = at
            if timeline:
                timeline.add(f"DRAM channel {channel}", "write" if write else "read", start, at)
        return end + self.latency

    def plan(self, nbytes: float, write: bool = False) -> tuple | None:
        """How :meth:`transfer` runs a transfer of ``nbytes``: the channels it takes, how many of
        them move one burst more than the rest, their cycles and the rest's (None: no bytes)."""
        if nbytes <= 0:
            return None
        bursts = math.ceil(nbytes / self.burst)
        n = min(len(self.free), bursts)
        each, extra = divmod(bursts, n)
        per_burst = self.cycles_per_burst[write]
        return n, extra, math.ceil((each + 1) * per_burst), math.ceil(each * per_burst)

    def backlog(self, now: int) -> tuple[int, ...]:
        """The channels as every later transfer sees them: the cycles each stays busy after ``now``,
        in increasing order (which channel is which and how long an idle one has been idle
        change no transfer's end)."""
        return tuple(sorted([max(free - now, 0) for free, _ in self.free]))

    def translate(self, cycles: int) -> None:
        """Move every channel's queue ``cycles`` later."""
        self.free = [(free + cycles, channel) for free, channel in self.free]
