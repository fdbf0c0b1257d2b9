"""Activation residency: a layer's output that stays on chip as the next layer's input.

Layers run one after another over the whole batch, so a layer's output tensor (after the
operators that follow it) can stay in the input buffer for the next layer only if all of it fits
there: the buffer's usable part (half of it when double-buffered, the other half loads the
next operands). The next layer is taken to consume it when its input has exactly the elements
of this layer's output (a residual branch such as a downsample, which reads the block's input
instead, does not match and is not resident). Forward only, conv and linear layers. In
inference the tensor then never goes to DRAM: no write, no read back. In training the forward
pass still stashes it for the backward pass (the write stays); only the read back is saved.
"""
from __future__ import annotations

import numpy as np

from ..arch.schema import Arch
from ..workloads.trace import Workload


def resident_outputs(workload: Workload, arch: Arch) -> np.ndarray:
    """Per layer: True if its forward output stays on chip as the next layer's input."""
    layers, batch = workload.layers, workload.meta.batch_size
    room, operand = arch.buffer_for("input").usable_bytes, arch.operand_bytes
    out = [False] * len(layers)
    for i, (layer, nxt) in enumerate(zip(layers, layers[1:])):
        if layer.kind == "matmul" or nxt.kind == "matmul":
            continue
        produced = layer.K * layer.P * layer.Q * layer.repeat
        consumed = nxt.C * nxt.H * nxt.W * nxt.repeat
        out[i] = produced == consumed and produced * batch * operand <= room
    return np.array(out, bool)
