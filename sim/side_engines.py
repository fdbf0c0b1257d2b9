"""Work of the side engines in one training iteration: the N:M pruning unit and the weight update.

Pruning: each sparse direction of a layer (forward copy, and backward copy when the layer has a
backward-data GEMM) streams every weight through a lane's top-N sorter, ``cycles_per_element``
each (one group of M in M cycles). With pre-generation the pruning is fused with the weight
update and reads no weights of its own; without it, it reads the master weights again.
Weight update (SGD with momentum, in ``weight_update.precision``): reads weight, momentum and
gradient, writes weight and momentum, and writes the FP16 working copy for a dense direction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..arch.schema import DTYPE_BYTES, Arch
from ..workloads.trace import Workload


def side_engine_rows(workload: Workload, arch: Arch) -> pd.DataFrame:
    """One PRUNE and one UPDATE row per layer with weights (empty for inference)."""
    if workload.meta.mode != "training":
        return pd.DataFrame()
    op = arch.operand_bytes
    master = DTYPE_BYTES[arch.weight_update.precision]
    index_bytes = arch.sparsity.index_bits_per_nonzero / 8
    pu, wu, energy = arch.pruning_unit, arch.weight_update, arch.energy
    records = []
    for index, layer in enumerate(workload.layers):
        if not layer.has_weights:
            continue
        elements = layer.weights * layer.repeat
        copies = [layer.fwd_nm] + ([layer.bwd_nm] if layer.input_grad else [])
        sparse = [p for p in copies if not p.dense]  # the patterns of sparse_copies(layer)
        if sparse:
            pruned = len(sparse) * elements
            read = 0 if arch.dataflow_options.pregenerate else elements * master
            write = sum(elements * p.density * (op + index_bytes) for p in sparse)
            records.append(_row(index, layer.name, "PRUNE", "pruning",
                                -(-pruned * pu.cycles_per_element // pu.lanes), pruned * energy.prune_pj_per_element,
                                read, write, arch))
        dense_copy = len(sparse) < len(copies)
        read, write = 3 * elements * master, 2 * elements * master + dense_copy * elements * op
        records.append(_row(index, layer.name, "UPDATE", "update",
                            -(-elements * wu.cycles_per_element // wu.lanes), elements * energy.update_pj_per_element,
                            read, write, arch))
    return pd.DataFrame.from_records(records)


def _row(index, name, phase, engine, engine_cycles, engine_pj, read, write, arch: Arch) -> dict:
    dram_cycles = (read + write) / arch.dram_bytes_per_cycle
    cycles = int(max(engine_cycles, np.ceil(dram_cycles)))
    return {"layer": index, "name": name, "phase": phase, "engine": engine, "cycles": cycles,
            "busy": engine_cycles, "stall_dram": cycles - engine_cycles,
            "dram_read_bytes": float(read), "dram_write_bytes": float(write),
            "compulsory_bytes": float(read + write),
            "energy_side_pj": float(engine_pj), "energy_dram_pj": (read + write) * arch.energy.dram_pj_per_byte}


def sparse_copies(layer) -> list[str]:
    """The GEMM phases whose weight copy the pruning unit produces for this layer."""
    return [phase for phase, nm, used in (("FF", layer.fwd_nm, True), ("BP", layer.bwd_nm, layer.input_grad))
            if used and not nm.dense]


def share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` cut into ``parts`` whole numbers that add up to it."""
    return total * (index + 1) // parts - total * index // parts
