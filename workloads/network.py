"""A model as a trace sees it: its GEMM layers and the non-GEMM operators between them.

:class:`Network` is what every layer table returns (the analytic ones in :mod:`.models` and
:mod:`.pretrained`, torch extraction, ONNX import): a list of :class:`Layer` in forward order, so
every caller that iterates a layer table keeps working, carrying ``ops`` (the :class:`Op` rows of
``ops.csv``) and ``optimizer`` (the training recipe's, for ``workload.yaml``).
:class:`NetworkBuilder` records both in execution order, naming each operator after the layer it
follows (``layer1.0.conv1.bn``), so tables built by hand and extracted ones name them alike.
"""
from __future__ import annotations

from typing import Iterable

from .layer import Layer
from .ops import Op


class Network(list):
    """GEMM layers in forward order (a ``list[Layer]``), with ``ops`` and ``optimizer``.

    Equality and slicing are a list's: they see the layers only.
    """

    def __init__(self, layers: Iterable[Layer] = (), ops: Iterable[Op] = (), optimizer: str = "sgd_momentum"):
        super().__init__(layers)
        self.ops: list[Op] = list(ops)
        self.optimizer = optimizer


def ops_of(table) -> list[Op]:
    """The operators a layer table carries ([] for a plain list of layers, e.g. a SCALE-Sim import)."""
    return list(getattr(table, "ops", []))


def optimizer_of(table) -> str:
    return getattr(table, "optimizer", "sgd_momentum")


class NetworkBuilder:
    """Appends layers and operators in execution order; an operator's ``after`` is the last layer."""

    def __init__(self, optimizer: str = "sgd_momentum"):
        self.net = Network(optimizer=optimizer)
        self._names: set[str] = set()

    @property
    def last(self) -> str:
        """The name of the last layer so far ("" before the first)."""
        return self.net[-1].name if self.net else ""

    def layer(self, layer: Layer) -> Layer:
        self.net.append(layer)
        return layer

    def op(self, kind: str, elements: int, out_elements: int | None = None, channels: int = 0,
           name: str | None = None) -> Op:
        """Record an operator after the last layer; ``name`` defaults to ``<last layer>.<kind>``
        (``input.<kind>`` before the first layer), with ``.2``, ``.3`` ... where that repeats."""
        base = name or f"{self.last or 'input'}.{kind}"
        unique, count = base, 1
        while unique in self._names:
            count += 1
            unique = f"{base}.{count}"
        self._names.add(unique)
        op = Op(unique, kind, self.last, int(elements), int(elements if out_elements is None else out_elements),
                int(channels))
        for col, expectation in op.problems():
            raise ValueError(f"operator {unique}: {col}: {expectation}")
        self.net.ops.append(op)
        return op

    # the usual operators on the last layer's output (per sample)
    def bn(self, layer: Layer) -> Op:
        return self.op("bn", layer.outputs, channels=layer.K)

    def relu(self, elements: int) -> Op:
        return self.op("relu", elements)

    def add(self, elements: int) -> Op:
        return self.op("add", elements)

    def loss(self, classes: int) -> Op:
        return self.op("loss", classes, 1)
