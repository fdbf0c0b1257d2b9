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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        ms = 1e-3 / self.clock_mhz
        engines = list(self.tracks)
        start = min((iv[0][1] for iv in self.tracks.values() if iv), default=0)
        end = max((iv[-1][2] for iv in self.tracks.values() if iv), default=1)
        fig, (gantt, util) = plt.subplots(2, 1, figsize=(12, 2 + 0.45 * len(engines)), sharex=True,
                                          gridspec_kw={"height_ratios": [max(len(engines), 1), 2]})
        colours = {"FF": "tab:blue", "BP": "tab:orange", "WU": "tab:green", "UPDATE": "tab:purple", "PRUNE": "tab:red"}
        for row, engine in enumerate(engines):
            spans = [((s - offset) * ms, (e - s) * ms) for _, s, e in self.tracks[engine]]
            faces = [colours.get(label.split()[0], "tab:gray") for label, _, _ in self.tracks[engine]]
            gantt.broken_barh(spans, (row - 0.4, 0.8), facecolors=faces, linewidth=0)
        gantt.set_yticks(range(len(engines)), engines)
        gantt.invert_yaxis()
        gantt.set_title("engine activity (FF blue, BP orange, WU green, update purple, pruning red, DMA gray)")
        bins = np.linspace(start, end, 201)
        for engine in engines:
            busy = np.zeros(len(bins) - 1)
            for _, s, e in self.tracks[engine]:
                busy += np.clip(np.minimum(bins[1:], e) - np.maximum(bins[:-1], s), 0, None)
            util.plot((bins[:-1] - offset) * ms, busy / np.diff(bins), label=engine, linewidth=1)
        util.set_ylabel("busy fraction")
        util.set_xlabel("time (ms)")
        util.legend(fontsize="small", ncol=4, loc="lower right")
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        tmp.replace(path)
