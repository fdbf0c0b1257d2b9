"""A sparsity schedule over a training run: ``run_schedule.yaml`` beside a trace's ``workload.yaml``.

The trace holds one iteration; the schedule says which N:M (or dense) each range of iterations
trains in, as progressive N:M training does (dense warm-up, 2:4 -> 2:8 -> 1:8, dense fine-tuning)::

    phases:                                   # contiguous, from iteration 0; end is exclusive
      - {name: warm-up,   start: 0,     end: 10000, nm: dense}
      - {name: 2:4,       start: 10000, end: 30000, nm: "2:4"}
      - {name: 2:8,       start: 30000, end: 90000, nm: "2:8"}
      - {name: fine-tune, start: 90000, end: 100000, nm: dense}

Each phase re-prunes the trace's layers at its pattern with the trace's method
(:func:`..workloads.models.sparsify`: a dimension M does not divide stays dense, activation
matmuls stay dense). ``decay: true`` marks a decaying-mask phase (Kao et al. 2022, "Training
Recipe for N:M Structured Sparsity with Decaying Pruned Mask"): the pruned weights are scaled by a
factor that decays towards 0 instead of being zero, so no N:M datapath can skip them and the
phase executes dense; what it records is the pattern it converges to. A mask-gradient decay that
touches only the weight update (SR-STE's regulariser) changes no GEMM and no byte, so it is not a
separate timing mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..arch.schema import NMPattern
from ..core.errors import InputError
from ..core.typed_yaml import NON_NEGATIVE, POSITIVE, build, read_yaml
from .trace import Sparsity, Workload

FILE = "run_schedule.yaml"


@dataclass(frozen=True)
class RunPhase:
    name: str
    start: int = field(metadata=NON_NEGATIVE)
    end: int = field(metadata=POSITIVE)
    nm: str
    decay: bool = False     # decaying pruned mask: weights not yet zero, executed dense

    @property
    def pattern(self) -> NMPattern:
        return NMPattern.parse(self.nm)

    def problems(self):
        try:
            pattern = self.pattern
        except ValueError as exc:
            yield "nm", str(exc)
            return
        if self.end <= self.start:
            yield "end", f"expected an iteration after start ({self.start}), got {self.end}"
        if self.decay and pattern.dense:
            yield "decay", "expected an N:M nm with decay: true (the pattern the decaying mask converges to)"


@dataclass(frozen=True)
class RunSchedule:
    phases: list[RunPhase]
    description: str = ""

    def problems(self):
        if not self.phases:
            yield "phases", "expected at least one phase"
            return
        expected = 0
        for i, phase in enumerate(self.phases):
            if phase.start != expected:
                what = "the first phase to start at iteration 0" if i == 0 else \
                    f"it to start where phase {i - 1} ({self.phases[i - 1].name!r}) ends, at {expected}"
                yield f"phases[{i}].start", f"expected {what}, got {phase.start}"
            expected = phase.end
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            yield "phases", "expected unique phase names"


def load_run_schedule(workload: Workload) -> RunSchedule | None:
    """The trace's run schedule, validated against it; None if the folder has none."""
    path = workload.path / FILE if workload.path else None
    if path is None or not path.exists():
        return None
    return check_run_schedule(build(RunSchedule, read_yaml(path), str(path)), workload, path)


def check_run_schedule(schedule: RunSchedule, workload: Workload, path: str | Path) -> RunSchedule:
    """Refuse a schedule the trace cannot run: an inference trace, unstructured masks."""
    meta = workload.meta
    if meta.mode != "training":
        raise InputError(path, "phases", f"expected a training trace for a run schedule; {meta.name} is {meta.mode}")
    if meta.sparsity.method == "unstructured":
        raise InputError(path, "phases", f"expected an N:M or dense trace; {meta.name} carries unstructured masks, "
                                          "which a phase cannot re-prune")
    return schedule


def phase_workload(workload: Workload, phase: RunPhase) -> Workload:
    """The trace's iteration as it runs in ``phase``: its layers re-pruned at the phase's pattern
    (dense for a dense or decaying-mask phase), the first layer's input gradient as the trace has it."""
    from .models import sparsify       # the model tables load only for a trace with a run schedule

    pattern = NMPattern(1, 1) if phase.decay else phase.pattern
    if pattern.dense:
        return workload.densified()
    method = workload.meta.sparsity.method if workload.meta.sparsity.method in ("srste", "bdwp") else "bdwp"
    layers = [replace(new, input_grad=old.input_grad)
              for new, old in zip(sparsify(workload.layers, method, pattern), workload.layers)]
    return replace(workload, layers=layers, meta=replace(workload.meta, sparsity=Sparsity(method, str(pattern))))
