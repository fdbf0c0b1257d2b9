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


class Dram:
    """DRAM channels as FIFO queues; a transfer's bursts go to the channels that free up first.

    A channel moves one burst in ``burst_bytes`` times its cycles per byte (read or written); a
    transfer's access latency is paid once, overlapped with other transfers.
    """

    def __init__(self, arch: Arch, timeline=None):
        d = arch.dram
        self.free = [0] * d.channels
        self.burst = d.burst_bytes
        read, write = channel_cycles_per_byte(arch)
        self.cycles_per_burst = {False: d.burst_bytes * read, True: d.burst_bytes * write}
        self.latency = math.ceil(d.access_latency_ns * arch.clock_mhz / 1e3)
        self.timeline = timeline

    def transfer(self, now: int, nbytes: float, write: bool = False) -> int:
        """Cycle at which a transfer of ``nbytes`` issued at ``now`` completes."""
        if nbytes <= 0:
            return now
        bursts = math.ceil(nbytes / self.burst)
        used = sorted(range(len(self.free)), key=self.free.__getitem__)[:min(len(self.free), bursts)]
        each, extra = divmod(bursts, len(used))
        per_burst = self.cycles_per_burst[write]
        end = now
        for i, channel in enumerate(used):
            start = max(now, self.free[channel])
            self.free[channel] = start + math.ceil((each + (i < extra)) * per_burst)
            end = max(end, self.free[channel])
            if self.timeline:
                self.timeline.add(f"DRAM channel {channel}", "write" if write else "read", start, self.free[channel])
        return end + self.latency
