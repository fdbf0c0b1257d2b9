"""Weight masks of a trace (``masks.npz``): per layer and direction, bit-packed and compressed.

A layer's mask has the shape of its weights, [K, C/groups, R, S]. Keys: ``<layer>/fwd`` and
``<layer>/bwd`` hold ``np.packbits`` of the flattened mask, ``<layer>/shape`` the shape. The
forward mask keeps at most N of every M along the input channels (axis 1), the backward mask
along the output channels (axis 0), as the layer's ``fwd_nm``/``bwd_nm`` say; a dense direction
has no mask. Seeded masks prune reproducible random weights by magnitude (legacy RandomState).
"""
from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np

from ..arch.schema import NMPattern
from ..core import input_files, verdicts
from ..core.errors import InputError
from ..core.input_files import read_npz
from ..core.provenance import file_digest
from . import layer as layer_module
from .layer import Layer

AXIS = {"fwd": 1, "bwd": 0}


def weight_shape(layer: Layer) -> tuple[int, int, int, int]:
    return (layer.K, layer.C // layer.groups, layer.R, layer.S)


def nm_violations(mask: np.ndarray, pattern: NMPattern, axis: int) -> int:
    """Groups of M along ``axis`` that keep more than N (``mask``: bool or 0/1 uint8).

    The mask is viewed in place as [before, groups, M, after] and summed over M in uint8 (einsum's
    loops beat a strided reduction there; a wider type only when M > 255), so no copy is made."""
    flat = np.ascontiguousarray(mask if mask.dtype in (np.bool_, np.uint8) else mask != 0).view(np.uint8)
    before = int(np.prod(mask.shape[:axis], dtype=np.int64))
    after = int(np.prod(mask.shape[axis + 1:], dtype=np.int64))
    groups = flat.reshape(before, mask.shape[axis] // pattern.m, pattern.m, after)
    if pattern.m > 255:
        groups = groups.astype(np.min_scalar_type(pattern.m))
    return int(np.count_nonzero(np.einsum("bgma->bga", groups) > pattern.n))


def packed_nm_violations(packed: np.ndarray, count: int, pattern: NMPattern) -> int:
    """:func:`nm_violations` of ``np.unpackbits(packed, count=count)`` when its groups are runs of
    M consecutive bits that never straddle a byte (M divides 8: a forward mask with R = S = 1),
    read from the packed bytes with a table of each byte's violating groups."""
    table = _violations_per_byte(pattern.n, pattern.m)
    whole, tail = divmod(count, 8)
    bad = int(np.add.reduce(table[packed[:whole]], dtype=np.int64))
    if tail:   # the last byte's padding bits are not part of the mask
        bad += int(table[int(packed[whole]) & (0xFF << (8 - tail)) & 0xFF])
    return bad


def packed_rows_nm_violations(packed: np.ndarray, shape: tuple[int, ...], pattern: NMPattern) -> int:
    """:func:`nm_violations` along axis 0 of the mask of ``shape`` packed as ``packed``, when a
    row (the other axes) fills whole bytes (and 8-byte words where it can): a group's M rows are
    then M rows of bytes, and a bit-sliced counter (``more[j]``: bits with more than j ones so far)
    counts every bit position of a group at once without unpacking."""
    rows = packed.reshape(shape[0] // pattern.m, pattern.m, -1)
    if rows.shape[2] % 8 == 0:
        rows = rows.view(np.uint64)
    more = [np.zeros_like(rows[:, 0]) for _ in range(pattern.n + 1)]
    for i in range(pattern.m):
        row = rows[:, i]
        for j in range(pattern.n, 0, -1):
            more[j] |= more[j - 1] & row
        more[0] |= row
    return int(np.count_nonzero(np.unpackbits(more[pattern.n].view(np.uint8))))


def _unpack(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The bool mask of ``shape`` from its packed bits (a view of the unpacked 0/1 bytes, no copy)."""
    return np.unpackbits(packed, count=int(np.prod(shape))).view(bool).reshape(shape)


@functools.lru_cache(maxsize=None)
def _violations_per_byte(n: int, m: int) -> np.ndarray:
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)
    return (bits.reshape(256, 8 // m, m).sum(2) > n).sum(1).astype(np.uint8)


def seeded_masks(layers: list[Layer], seed: int) -> dict[tuple[str, str], np.ndarray]:
    """Top-N-of-M magnitude masks of random normal weights, one RandomState(seed + i) per layer."""
    from ..kernels.reference import topn_mask

    masks = {}
    for i, layer in enumerate(layers):
        if not layer.has_weights:
            continue
        weights = np.random.RandomState(seed + i).standard_normal(weight_shape(layer)).astype(np.float32)
        for direction, pattern in (("fwd", layer.fwd_nm), ("bwd", layer.bwd_nm)):
            if pattern.dense:
                continue
            moved = np.moveaxis(weights, AXIS[direction], 0)
            flat = moved.reshape(moved.shape[0], -1)
            kept = topn_mask(flat, pattern.n, pattern.m).reshape(moved.shape)
            masks[(layer.name, direction)] = np.moveaxis(kept, 0, AXIS[direction])
    return masks


STORED_ABOVE = 0.75
"""masks.npz is deflated unless that keeps more than this share of the packed bits: dense N:M masks
barely compress (ResNet-50 2:8: 6.4 MB to 5.0), and inflating them costs about 40 ms of every load."""


def masks_bytes(masks: dict[tuple[str, str], np.ndarray]) -> bytes:
    """``masks.npz``: per mask its packed bits and its shape, deflated where that pays (:data:`STORED_ABOVE`)."""
    arrays = {}
    for (name, direction), mask in masks.items():
        arrays[f"{name}/{direction}"] = np.packbits(mask.reshape(-1))
        arrays[f"{name}/shape"] = np.array(mask.shape, np.int64)
    deflated, stored = io.BytesIO(), io.BytesIO()
    np.savez_compressed(deflated, **arrays)
    np.savez(stored, **arrays)
    small = len(deflated.getvalue()) <= STORED_ABOVE * len(stored.getvalue())
    return (deflated if small else stored).getvalue()


def checksum(masks: dict[tuple[str, str], np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(masks):
        digest.update(f"{key[0]}/{key[1]}".encode())
        digest.update(np.packbits(masks[key].reshape(-1)).tobytes())
    return digest.hexdigest()[:16]


def load_masks(path: Path, layers: list[Layer], unstructured: bool = False) -> dict[tuple[str, str], np.ndarray]:
    """Read and validate ``masks.npz`` against the layers: names, shapes, N:M per direction.

    An ``unstructured`` trace holds one forward mask per layer, any pattern; its backward-data
    GEMM uses the same mask transposed.
    """
    return dict(_checked(path, layers, unstructured, keep=True))


def check_masks(path: Path, layers: list[Layer], unstructured: bool = False) -> None:
    """:func:`load_masks`' checks, each mask dropped once checked (the unpacked masks of a large
    model are tens of MB, and keeping them costs more than unpacking them). A pass is kept
    (:mod:`..core.verdicts`) under the digest of the file's bytes, the layers, and this code, so
    the same trace loads again without reading its masks (ResNet-50 2:8: about 45 ms a load)."""
    input_files.check_file(path, input_files.NPZ_CAP)    # a regular file of bounded size, before it is read
    key = None          # no folder to keep checks in, or an unreadable file (the check below says so)
    if verdicts.folder() is not None:
        try:
            code = verdicts.code_digest(__file__, input_files.__file__, layer_module.__file__)
            key = f"{code}:{file_digest(path)}:{unstructured}:{layers!r}"
        except OSError:
            pass
    if key and verdicts.passed("masks", key):
        return
    for _ in _checked(path, layers, unstructured, keep=False):
        pass
    if key:
        verdicts.remember("masks", key)


def _checked(path: Path, layers: list[Layer], unstructured: bool, keep: bool):
    """(layer, direction) and its bool mask, one by one, each validated (see :func:`load_masks`);
    without ``keep``, the mask where its check did not unpack it is None."""
    by_name = {layer.name: layer for layer in layers}
    largest = max((int(np.prod(weight_shape(layer))) for layer in layers if layer.has_weights), default=0)
    data = read_npz(path, member_bytes=max(-(-largest // 8), 64))
    for key in data:
        name, _, direction = key.rpartition("/")
        if direction == "shape":
            if name not in by_name or f"{name}/fwd" not in data and f"{name}/bwd" not in data:
                raise InputError(path, key, "expected <layer>/shape beside a <layer>/fwd or <layer>/bwd mask")
            continue
        if name not in by_name or direction not in AXIS:
            raise InputError(path, key, "expected <layer>/fwd or <layer>/bwd for a layer of layers.csv")
        layer = by_name[name]
        shape = weight_shape(layer)
        if not layer.has_weights:
            raise InputError(path, key, f"a mask for {layer.kind} layer {name}, which has no weights")
        if f"{name}/shape" not in data:
            raise InputError(path, key, f"expected {name}/shape beside it")
        stated = tuple(int(v) for v in data[f"{name}/shape"].reshape(-1))
        if stated != shape:
            raise InputError(path, f"{name}/shape", f"expected the weight shape {shape}, got {stated}")
        packed = -(-int(np.prod(shape)) // 8)
        if data[key].dtype != np.uint8 or data[key].shape != (packed,):
            raise InputError(path, key, f"expected {packed:,} packed bytes (uint8) for the {shape} weights, "
                                        f"got {data[key].dtype} of shape {data[key].shape}")
        count = int(np.prod(shape))
        mask = None
        if unstructured:
            if direction != "fwd":
                raise InputError(path, key, "an unstructured trace holds forward masks only (BP uses their transpose)")
        else:
            pattern = layer.fwd_nm if direction == "fwd" else layer.bwd_nm
            if pattern.dense:
                raise InputError(path, key, "a mask for a direction layers.csv marks dense")
            if direction == "fwd" and shape[2] * shape[3] == 1 and 8 % pattern.m == 0:
                bad = packed_nm_violations(data[key], count, pattern)
            elif direction == "bwd" and count // shape[0] % 8 == 0 and pattern.n * pattern.m <= 64:   # few array ops
                bad = packed_rows_nm_violations(data[key], shape, pattern)
            else:
                mask = _unpack(data[key], shape)
                bad = nm_violations(mask, pattern, AXIS[direction])
            if bad:
                raise InputError(path, key, f"{bad} groups keep more than {pattern.n} of {pattern.m} along "
                                            f"{'input' if direction == 'fwd' else 'output'} channels")
        if keep and mask is None:
            mask = _unpack(data[key], shape)
        yield (name, direction), mask
