"""Per-engine activity: a Chrome trace-event JSON (Perfetto, chrome://tracing) and a Gantt plot."""
from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import write_text


class Timeline:
    """Intervals per engine, in cycles; touching intervals with the same label merge."""

    def __init__(self, clock_mhz: float):
        self.clock_mhz = clock_mhz
        self.tracks: dict[str, list[list]] = {}

    def add(self, engine: str, label: str, start: int, end: int) -> None:
        if end <= start:
            return
        track = self.tracks.setdefault(engine, [])
        if track and track[-1][0] == label and track[-1][2] == start:
            track[-1][2] = end
        else:
            track.append([label, start, end])

    def chrome_trace(self, offset: int = 0) -> dict:
        us = 1.0 / self.clock_mhz
        events = []
        for tid, (engine, intervals) in enumerate(self.tracks.items()):
            events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": engine}})
            events += [{"name": label, "ph": "X", "pid": 1, "tid": tid, "ts": (start - offset) * us,
                        "dur": (end - start) * us}
                       for label, start, end in intervals]
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def write(self, path: Path, offset: int = 0) -> None:
        """Write the trace JSON to ``path`` and the Gantt/utilisation plot to ``path`` with ``.png``;
        times count from ``offset`` cycles."""
        path = Path(path)
        write_text(path, json.dumps(self.chrome_trace(offset)))
        self._plot(path.with_suffix(".png"), offset)

    def _plot(self, path: Path, offset: int) -> None:
        """Gantt rows per engine coloured by phase (one scheme, its legend above the data), and
        below them each engine's busy fraction over time in grey; time runs from the iteration's
        start (the warm-up before it is in the JSON only)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        from matplotlib.patches import Patch

        ms = 1e-3 / self.clock_mhz
        engines = list(self.tracks)
        end = max((iv[-1][2] for iv in self.tracks.values() if iv), default=offset + 1)
        warmup = sum(1 for iv in self.tracks.values() for _, s, _ in iv if s < offset)
        fig, (gantt, util) = plt.subplots(2, 1, figsize=(12, 2.5 + 0.7 * len(engines)), sharex=True, layout="constrained",
                                          gridspec_kw={"height_ratios": [max(len(engines), 1), max(len(engines), 1) / 2]})
        used = set()
        for row, engine in enumerate(engines):
            spans = [((max(s, offset) - offset) * ms, (e - max(s, offset)) * ms) for _, s, e in self.tracks[engine] if e > offset]
            keys = [label.split()[0] for label, _, e in self.tracks[engine] if e > offset]
            used |= set(keys)
            gantt.broken_barh(spans, (row - 0.4, 0.8), facecolors=[PHASE_COLOURS.get(k, "tab:gray") for k in keys],
                              linewidth=0)
        gantt.set_yticks(range(len(engines)), engines)
        gantt.invert_yaxis()
        handles = [Patch(color=c, label=PHASE_NAMES[k]) for k, c in PHASE_COLOURS.items() if k in used]
        gantt.set_title("engine activity by phase (top) and busy fraction (bottom), from the iteration's start"
                        + (f"; {warmup} warm-up intervals before it are in the JSON only" if warmup else ""),
                        fontsize="medium")
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False, fontsize="small")
        bins = np.linspace(offset, end, 201)
        busy = np.zeros((len(engines), len(bins) - 1))
        for row, engine in enumerate(engines):
            for _, s, e in self.tracks[engine]:
                busy[row] += np.clip(np.minimum(bins[1:], e) - np.maximum(bins[:-1], s), 0, None)
        image = util.imshow(busy / np.diff(bins), aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                            extent=(0, (end - offset) * ms, len(engines) - 0.5, -0.5))
        util.set_yticks(range(len(engines)), engines)
        util.set_xlabel("time from the iteration's start (ms)")
        fig.colorbar(image, ax=util, label="busy fraction", location="right", pad=0.01, fraction=0.03)
        gantt.set_xlim(0, (end - offset) * ms)
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        tmp.replace(path)


PHASE_COLOURS = {"FF": "tab:blue", "BP": "tab:orange", "WU": "tab:green", "UPDATE": "tab:purple", "PRUNE": "tab:red",
                 "read": "0.45", "write": "0.7"}
PHASE_NAMES = {"FF": "forward (FF)", "BP": "backward-data (BP)", "WU": "weight gradient (WU)", "UPDATE": "weight update",
               "PRUNE": "pruning", "read": "DRAM read", "write": "DRAM write"}
