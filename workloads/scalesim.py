"""SCALE-Sim topology CSVs in and out.

Conv form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
Num Filter, Strides,`` (the trailing comma is SCALE-Sim's). It has no padding column, so an
imported layer is unpadded (SCALE-Sim's own ResNet-50 comes to about 3.41 GMAC instead of
torchvision's 4.09); on export a padded layer is written with its padded input size, so SCALE-Sim
computes the same output size. GEMM form: ``Layer, M, N, K,`` (an M x K by K x N product).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.atomic import write_text
from ..core.errors import InputError
from .trace import Layer

CONV = ["Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides"]
GEMM = ["Layer", "M", "N", "K"]


def read_scalesim(path: str | Path) -> list[Layer]:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(path, "", "file not found") from None
    rows = [[c.strip() for c in row if c.strip() != ""] for row in csv.reader(io.StringIO(text))]
    rows = [r for r in rows if r]
    if not rows:
        raise InputError(path, "", "expected a header and layer rows")
    header = rows[0]
    if header == CONV:
        make = _conv
    elif header == GEMM:
        make = _gemm
    else:
        raise InputError(path, "header", f"expected the conv columns {', '.join(CONV)} or the GEMM columns {', '.join(GEMM)}")
    layers = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(path, f"line {line}", f"expected {len(header)} values, got {len(row)}")
        try:
            values = [int(v) for v in row[1:]]
        except ValueError:
            raise InputError(path, f"line {line}", f"expected whole numbers after the name, got {row[1:]}") from None
        layer = make(row[0], values)
        for column, expectation in layer.problems():
            raise InputError(path, f"line {line}", f"{column}: {expectation}")
        layers.append(layer)
    return layers


def _conv(name: str, v: list[int]) -> Layer:
    h, w, r, s, c, k, stride = v
    return Layer(name, "conv", c, k, r, s, stride, 0, h, w)


def _gemm(name: str, v: list[int]) -> Layer:
    m, n, k = v
    return Layer(name, "linear", k, n, H=m)          # M tokens of K features to N outputs


def write_scalesim(layers: list[Layer], path: str | Path) -> None:
    """Conv form; a linear layer becomes a 1x1 convolution over its tokens, a matmul is rejected."""
    out = io.StringIO()
    out.write(", ".join(CONV) + ",\n")
    for layer in layers:
        if layer.kind == "matmul" or layer.groups != 1:
            raise ValueError(f"{layer.name}: SCALE-Sim's conv topology has no {layer.kind if layer.kind == 'matmul' else 'grouped'} layers")
        h, w = layer.H + 2 * layer.pad, layer.W + 2 * layer.pad
        out.write(f"{layer.name}, {h}, {w}, {layer.R}, {layer.S}, {layer.C}, {layer.K}, {layer.stride},\n")
    write_text(path, out.getvalue())
