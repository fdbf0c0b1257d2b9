"""Work of the side engines in one training iteration: the N:M pruning unit and the weight update.

Pruning: each pruned direction of a layer (forward copy, and backward copy when the layer has a
backward-data GEMM) streams every weight through a lane's top-N sorter, ``cycles_per_element``
each (one group of M in M cycles), and writes the copy its GEMM reads. With pre-generation the pruning is fused with the weight
update and reads no weights of its own; without it, it reads the master weights again.
Weight update (the trace's optimizer, in ``weight_update.precision``): SGD with momentum reads
weight, momentum and gradient and writes weight and momentum; AdamW reads and writes both
moments as well, at ``adamw_cycles_per_element`` (its update energy scales by the same ratio);
either writes the FP16 working copy for a dense direction.
"""
from __future__ import annotations

import numpy as np

from ..arch.schema import DTYPE_BYTES, Arch
from ..core.errors import InputError
from ..dataflow.gemms import GemmTable
from ..workloads.trace import Workload
from .dram import dram_cycles as dram_cycles_of
from .records import Table
from .traffic import weight_copy_bytes


def side_engine_rows(workload: Workload, arch: Arch, g: GemmTable) -> Table:
    """One PRUNE and one UPDATE row per layer with weights (empty for inference).

    The copies come from the schedule's GEMMs ``g``: each FF and BP GEMM reads its weight copy in
    the pattern it executes. A copy of a pruned direction (the layer's own pattern is N:M) is
    written by the pruning unit in that executed format (compressed, or dense with the pruned
    weights zeroed where the array runs it dense); the dense directions share one FP16 copy that
    the update engine writes. So the bytes written are exactly the copies the GEMMs read.
    """
    layers = workload.layers
    if workload.meta.mode != "training" or not any(layer.has_weights for layer in layers):
        return Table()
    master = DTYPE_BYTES[arch.weight_update.precision]
    pu, wu, energy = arch.pruning_unit, arch.weight_update, arch.energy
    states, cycles = optimizer_cost(workload, arch)
    elements = np.array([layer.weights * layer.repeat for layer in layers], np.int64)
    copies = [sparse_copies(layer) for layer in layers]
    # per layer: the weight copies its GEMMs read (FF, BP), those the pruning unit writes and their bytes
    ff, bp = g.phase == "FF", g.phase == "BP"
    pruned = (ff & np.array(["FF" in c for c in copies])[g.layer]) | (bp & np.array(["BP" in c for c in copies])[g.layer])
    reads = np.bincount(g.layer[ff | bp], minlength=len(layers))
    written = np.bincount(g.layer[pruned], minlength=len(layers))
    written_bytes = np.bincount(g.layer[pruned], (weight_copy_bytes(g, arch) * g.count)[pruned], minlength=len(layers))
    # the jobs layer by layer: a PRUNE where the layer has a pruned copy, then its UPDATE
    weighted = np.flatnonzero([layer.has_weights for layer in layers])
    jobs = 1 + (written[weighted] > 0)
    layer = np.repeat(weighted, jobs)
    prune = np.zeros(len(layer), bool)
    prune[(np.cumsum(jobs) - jobs)[jobs > 1]] = True
    n, e = written[layer], elements[layer]
    busy = np.where(prune, -(-n * e * pu.cycles_per_element // pu.lanes), -(-e * cycles // wu.lanes)).astype(np.int64)
    pj = np.where(prune, n * e * energy.prune_pj_per_element, e * energy.update_pj_per_element * cycles / wu.cycles_per_element)
    read = np.where(prune, 0 if arch.dataflow_options.pregenerate else e * master, (states + 2) * e * master).astype(float)
    dense_copy = n < reads[layer]      # the update engine writes the dense directions' copy
    write = np.where(prune, written_bytes[layer], (states + 1) * e * master + dense_copy * e * arch.operand_bytes).astype(float)
    # each job takes the larger of its engine time and its DRAM time
    job_cycles = np.maximum(busy, np.ceil(dram_cycles_of(arch, read, write))).astype(np.int64)
    kind = prune.astype(np.intp)
    return Table({"layer": layer, "name": np.array([layers[i].name for i in layer.tolist()], object),
                  "phase": np.array(["UPDATE", "PRUNE"], object)[kind], "engine": np.array(["update", "pruning"], object)[kind],
                  "cycles": job_cycles, "busy": busy, "stall_dram": job_cycles - busy,
                  "stall_control": np.zeros(len(busy), np.int64), "dram_read_bytes": read, "dram_write_bytes": write,
                  "compulsory_bytes": read + write, "energy_side_pj": pj.astype(float),
                  "energy_dram_pj": (read + write) * arch.energy.dram_pj_per_byte})


def optimizer_cost(workload: Workload, arch: Arch) -> tuple[int, int]:
    """The optimizer's state tensors per weight and the update engine's cycles per weight:
    SGD with momentum keeps one (momentum), AdamW two (first and second moments)."""
    wu = arch.weight_update
    if workload.meta.optimizer == "sgd_momentum":
        return 1, wu.cycles_per_element
    if wu.adamw_cycles_per_element is None:
        where = workload.path / "workload.yaml" if workload.path else workload.meta.name
        raise InputError(where, "optimizer",
                         f"{workload.meta.name} trains with adamw, but {arch.name}'s weight_update has no "
                         "adamw_cycles_per_element: set it in the arch file")
    return 2, wu.adamw_cycles_per_element


def sparse_copies(layer) -> list[str]:
    """The GEMM phases whose weight copy the pruning unit produces for this layer."""
    copies = [] if layer.fwd_nm.dense else ["FF"]
    if layer.input_grad and not layer.bwd_nm.dense:
        copies.append("BP")
    return copies


def share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` cut into ``parts`` whole numbers that add up to it."""
    return total * (index + 1) // parts - total * index // parts
