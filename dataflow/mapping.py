"""Which dataflow each phase runs in.

Without a mapping search (offline scheduling) the choice is SAT's natural split: weight-
stationary for FF and BP (compressed weights stay in the PEs while activations or errors
stream) and output-stationary for WU (a long reduction over batch x pixels accumulated in
place), falling back to the one the array supports.
"""
from __future__ import annotations

from ..arch.schema import Arch

PREFERRED = {"FF": "weight_stationary", "BP": "weight_stationary", "WU": "output_stationary"}


def default_dataflow(arch: Arch, phase: str) -> str:
    preferred = PREFERRED[phase]
    return preferred if preferred in arch.array.dataflows else arch.array.dataflows[0]
