"""A small CNN trained on scikit-learn's digits with SR-STE or BDWP N:M sparsity: real trained
masks, measured activation and gradient densities and the test accuracy, as a workload trace.

BDWP prunes the dense master weights by magnitude every step into a forward copy (groups along
the input channels) and a backward-data copy (groups along the output channels); the weight
gradient stays dense and updates every master weight (straight-through). SR-STE uses the forward
mask in both passes and decays the pruned weights. Needs torch and scikit-learn.
"""
from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..arch.schema import NMPattern
from .masks import checksum, masks_bytes
from .models import sparsify
from .torch_ops import extract_network
from .trace import Provenance, Sparsity, Workload, WorkloadMeta

SRSTE_DECAY = 2e-4


def topn_mask(w: torch.Tensor, pattern: NMPattern, axis: int) -> torch.Tensor:
    """Keep the N largest magnitudes of every M along ``axis`` (dense patterns keep everything)."""
    if pattern.dense or w.shape[axis] % pattern.m:
        return torch.ones_like(w, dtype=torch.bool)
    moved = w.abs().movedim(axis, -1)
    groups = moved.reshape(*moved.shape[:-1], -1, pattern.m)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, groups.topk(pattern.n, -1).indices, True)
    return keep.reshape(moved.shape).movedim(-1, axis)


class _SparseWeight(torch.autograd.Function):
    """Forward with one masked copy, backward-data with the other; the weight gradient is dense."""

    @staticmethod
    def forward(ctx, x, w, fwd, bwd, op):
        ctx.save_for_backward(x, w, bwd)
        ctx.op = op
        return op(x, w * fwd)

    @staticmethod
    def backward(ctx, grad):
        x, w, bwd = ctx.saved_tensors
        with torch.enable_grad():
            xs, ws = x.detach().requires_grad_(), w.detach().requires_grad_()
            out = ctx.op(xs, ws)
        grad_w = torch.autograd.grad(out, ws, grad, retain_graph=True)[0]           # dense (straight-through)
        with torch.enable_grad():
            xb = x.detach().requires_grad_()
            grad_x = torch.autograd.grad(ctx.op(xb, (w * bwd).detach()), xb, grad)[0]  # backward copy
        return grad_x, grad_w, None, None, None


class _Sparse:
    """Mixed into a conv or linear layer: its weight enters the GEMMs through the masked copies."""

    fwd_nm = bwd_nm = NMPattern(1, 1)
    method = "dense"
    record = None           # when a dict: the layer's input and its output gradient land here

    def forward(self, x):
        w = self.weight.detach()
        fwd = topn_mask(w, self.fwd_nm, 1)
        bwd = fwd if self.method == "srste" else topn_mask(w, self.bwd_nm, 0)
        out = _SparseWeight.apply(x, self.weight, fwd, bwd, self.gemm)
        if self.bias is not None:
            out = out + (self.bias.view(1, -1, 1, 1) if out.dim() == 4 else self.bias)
        if self.record is not None and out.requires_grad:
            self.record[("act", self)] = x.detach()
            out.register_hook(lambda g: self.record.__setitem__(("grad", self), g))
        return out


class SparseConv2d(_Sparse, nn.Conv2d):
    def gemm(self, x, w):
        return F.conv2d(x, w, None, self.stride, self.padding)


class SparseLinear(_Sparse, nn.Linear):
    def gemm(self, x, w):
        return F.linear(x, w)


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = SparseConv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = SparseConv2d(16, 32, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc = SparseLinear(32 * 8 * 8, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.flatten(1))


def train_digits(method: str, nm: str, epochs: int = 40, batch: int = 64, seed: int = 0) -> tuple[Workload, bytes | None, dict]:
    """Train, then return the trace (trained masks, measured densities), its masks.npz and a report."""
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(x))
    train, test = order[:split], order[split:]
    model = DigitsNet()
    network = extract_network(model, [1, 8, 8])                  # layers and operators (batch-norm, ReLU, loss)
    layers = sparsify(network, method, NMPattern.parse(nm))
    modules = [model.conv1, model.conv2, model.fc]
    for m, layer in zip(modules, layers):
        m.method, m.fwd_nm, m.bwd_nm = method, layer.fwd_nm, layer.bwd_nm
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(epochs):
        model.train()
        for start in range(0, split, batch):
            idx = train[start:start + batch]
            optimiser.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            if method == "srste":
                for m, layer in zip(modules, layers):
                    m.weight.grad += SRSTE_DECAY * (~topn_mask(m.weight.detach(), layer.fwd_nm, 1)) * m.weight.detach()
            optimiser.step()
    act, grad = _densities(model, modules, x[train[:batch]], y[train[:batch]])
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x[test]).argmax(1) == y[test]).float().mean())
    masks = {}
    for m, layer in zip(modules, layers):
        w = m.weight.detach().reshape(layer.K, layer.C // layer.groups, layer.R, layer.S)
        for direction, pattern, axis in (("fwd", layer.fwd_nm, 1), ("bwd", layer.bwd_nm, 0)):
            if not pattern.dense and not (method == "srste" and direction == "bwd"):
                masks[(layer.name, direction)] = topn_mask(w, pattern, axis).numpy()
    layers = [replace(layer, act_density=round(a, 4), grad_density=round(g, 4)) for layer, a, g in zip(layers, act, grad)]
    report = {"accuracy": accuracy, "epochs": epochs, "activation_density": act, "gradient_density": grad}
    provenance = Provenance("trained", f"DigitsNet trained {epochs} epochs with {method.upper()} {nm} on scikit-learn "
                                       f"digits (80/20 split), test accuracy {accuracy:.4f}; masks checksum "
                                       f"{checksum(masks) if masks else 'none'}", seed,
                            {"sparseloom": version("sparseloom"), "torch": str(torch.__version__),
                             "scikit-learn": version("scikit-learn"), "numpy": np.__version__})
    meta = WorkloadMeta(f"digits_{method}_{nm.replace(':', 'of')}", "digits_cnn", "digits", [1, 8, 8], batch, "training",
                        Sparsity(method, nm), provenance, f"small CNN on digits, {method} {nm}, trained masks")
    return Workload(meta, layers, ops=network.ops), masks_bytes(masks) if masks else None, report


def _densities(model, modules, x, y) -> tuple[list[float], list[float]]:
    """Fraction of nonzeros in each layer's input activations (ReLU zeros) and in the gradient
    of its output (after the batch-norm's backward, which makes it dense) over one batch."""
    model.train()
    record = {}
    for m in modules:
        m.record = record
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    for m in modules:
        m.record = None

    def density(t):
        return float((t != 0).float().mean())

    return [density(record[("act", m)]) for m in modules], [density(record[("grad", m)]) for m in modules]


TRAINED = [("bdwp", "2:8"), ("srste", "2:8")]


def main(argv: list[str] | None = None) -> int:
    """Regenerate the committed trained traces: ``python -m sparseloom.workloads.digits [FOLDER]``."""
    import sys
    from pathlib import Path

    from .trace import write_workload

    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).parent
    for method, nm in TRAINED:
        workload, blob, report = train_digits(method, nm)
        folder = write_workload(workload, root / workload.meta.name, blob)
        print(f"wrote {folder}: test accuracy {report['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
