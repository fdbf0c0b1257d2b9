"""Render a run under a sparsity schedule (:mod:`..sim.run`): one row per phase, the run's totals."""
from __future__ import annotations

from ..sim.run import RunResult


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.3g} s"


def _energy(joules: float) -> str:
    for unit, scale in (("MJ", 1e6), ("kJ", 1e3)):
        if joules >= scale:
            return f"{joules / scale:.3g} {unit}"
    return f"{joules:.3g} J"


def run_text(run: RunResult, source: str) -> str:
    header = f"{'phase':<16}{'iterations':>22}{'N:M run':>10}{'ms/iter':>10}{'speedup':>9}{'ideal':>8}{'run time':>11}{'energy':>10}"
    lines = ["", f"run       {source}: {run.iterations:,} iterations in {len(run.phases)} phases "
                 "(each phase's iteration compiled and simulated at its own pattern)", header, "-" * len(header)]
    for p in run.phases:
        executed = f"{p.nm}{' (decay)' if p.decay else ''}"
        lines.append(f"{p.name[:15]:<16}{f'{p.start:,}-{p.end:,}':>22}{executed:>10}{p.time_ms:>10.2f}{p.speedup:>8.3f}x"
                     f"{p.ideal:>7.3f}x{_duration(p.iterations * p.time_ms / 1e3):>11}{_energy(p.iterations * p.energy_uj / 1e6):>10}")
    lines += [
        f"run       {_duration(run.time_s)}, {_energy(run.energy_j)}; dense throughout {_duration(run.dense_time_s)}, "
        f"{_energy(run.dense_energy_j)}",
        f"speedup   {run.average_speedup:.3f}x averaged over the run (ideal {run.average_ideal:.3f}x, "
        f"{run.average_speedup / run.average_ideal:.1%} of it); the steady state (the trace's own "
        f"pattern) says {run.steady['speedup']:.3f}x",
        *(["WARNING   the run's speedup is above its ideal: a model error, please report it"] if run.above_ideal else []),
        *(["note      a decaying-mask phase runs dense: its pruned weights are scaled, not yet zero"]
          if any(p.decay for p in run.phases) else []),
    ]
    return "\n".join(lines)
