"""What work is done: the trace format, its loader/validator and model layer tables."""
from .trace import Layer, Workload, load_workload, write_workload

__all__ = ["Layer", "Workload", "load_workload", "write_workload"]
