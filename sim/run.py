"""A whole training run under a sparsity schedule (:mod:`..workloads.run_schedule`): each phase's
iteration simulated once at its own pattern, times its iterations.

Run time and energy are the sums over phases of iterations x one iteration's time and energy.
The average speedup is the all-dense run's time over the scheduled run's; its ideal weighs each
phase's whole-iteration ideal (Amdahl, :func:`.simulate.speedup_over_dense`) by its iterations the
same way (time-weighted, a harmonic mean), so a 10% dense + 20% 2:4 + 70% 2:8 run cannot claim
the 2:8 steady state.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..arch.schema import Arch
from ..workloads.run_schedule import RunSchedule, phase_workload
from ..workloads.trace import Workload
from .simulate import simulate, speedup_over_dense


@dataclass(frozen=True)
class PhaseRun:
    name: str
    start: int
    end: int
    nm: str                 # the pattern the phase's trace carries ("dense" for dense and decaying phases)
    decay: bool
    time_ms: float          # one iteration
    energy_uj: float        # one iteration
    speedup: float          # one iteration, over dense on the same arch
    ideal: float            # the iteration's Amdahl ideal

    @property
    def iterations(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RunResult:
    phases: list[PhaseRun]
    dense_time_ms: float    # one dense iteration
    dense_energy_uj: float
    steady: dict            # the trace's own pattern: speedup_over_dense

    @property
    def iterations(self) -> int:
        return sum(p.iterations for p in self.phases)

    @property
    def time_s(self) -> float:
        return sum(p.iterations * p.time_ms for p in self.phases) / 1e3

    @property
    def energy_j(self) -> float:
        return sum(p.iterations * p.energy_uj for p in self.phases) / 1e6

    @property
    def dense_time_s(self) -> float:
        return self.iterations * self.dense_time_ms / 1e3

    @property
    def dense_energy_j(self) -> float:
        return self.iterations * self.dense_energy_uj / 1e6

    @property
    def average_speedup(self) -> float:
        return self.dense_time_s / self.time_s

    @property
    def average_ideal(self) -> float:
        return self.iterations / sum(p.iterations / p.ideal for p in self.phases)

    @property
    def above_ideal(self) -> bool:
        return self.average_speedup > self.average_ideal * (1 + 1e-9)

    def as_dict(self) -> dict:
        """The run as JSON, keyed as :data:`.columns.RUN` declares."""
        return {"iterations": self.iterations, "time_s": self.time_s, "energy_j": self.energy_j,
                "dense_time_s": self.dense_time_s, "dense_energy_j": self.dense_energy_j,
                "average_speedup": self.average_speedup, "average_ideal_speedup": self.average_ideal,
                "above_ideal": self.above_ideal, "steady_state_speedup": self.steady["speedup"],
                "phases": [{**p.__dict__, "iterations": p.iterations} for p in self.phases]}


def simulate_run(arch: Arch, workload: Workload, schedule: RunSchedule, fidelity: str = "analytic",
                 steady=None, energy_uj=lambda result: result.totals["energy_uj"]) -> RunResult:
    """Time ``schedule`` over ``workload``'s iteration on ``arch``; ``steady`` is the trace's own
    result where the caller has it. Each distinct phase pattern is simulated once. ``energy_uj``
    gives one iteration's energy from its result: the counted actions unless the caller adds the
    power model's static and background energy over the iteration's time."""
    dense = simulate(arch, workload.densified(), fidelity)
    steady = speedup_over_dense(arch, workload, steady or simulate(arch, workload, fidelity), dense)
    done: dict[str, tuple] = {}
    phases = []
    for phase in schedule.phases:
        w = phase_workload(workload, phase)
        key = w.meta.sparsity.nm
        if key not in done:
            result = dense if key == "dense" else simulate(arch, w, fidelity)
            done[key] = (result, speedup_over_dense(arch, w, result, dense))
        result, speedup = done[key]
        phases.append(PhaseRun(phase.name, phase.start, phase.end, key, phase.decay, result.totals["time_ms"],
                               energy_uj(result), speedup["speedup"], speedup["iteration_ideal_speedup"]))
    return RunResult(phases, dense.totals["time_ms"], energy_uj(dense), steady)
