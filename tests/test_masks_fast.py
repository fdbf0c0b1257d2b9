"""The N:M checks of ``masks.npz`` against the plain definition: move the group axis last, cut it
into groups of M, count the groups holding more than N ones. Random masks of random shapes and
patterns, violating ones included; the packed-byte paths (runs of bits, and rows of bytes or words)
with garbage in the padding bits."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import NMPattern
from sparseloom.core.errors import InputError
from sparseloom.workloads.layer import Layer
from sparseloom.workloads.masks import (check_masks, load_masks, nm_violations, packed_nm_violations,
                                       packed_rows_nm_violations)


def plain_violations(mask: np.ndarray, pattern: NMPattern, axis: int) -> int:
    moved = np.moveaxis(mask.astype(np.int64), axis, -1)
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // pattern.m, pattern.m)
    return int((groups.sum(-1) > pattern.n).sum())


@st.composite
def masks(draw, rs_one: bool = False, m_divides_8: bool = False, axis: int | None = None):
    m = draw(st.sampled_from([1, 2, 4, 8] if m_divides_8 else [1, 2, 3, 4, 8, 16]))
    n = draw(st.integers(1, m))
    axis = draw(st.sampled_from([0, 1])) if axis is None else axis
    groups = [draw(st.integers(1, 4)) for _ in range(2)]
    shape = [draw(st.integers(1, 5)), draw(st.integers(1, 5)),
             1 if rs_one else draw(st.integers(1, 3)), 1 if rs_one else draw(st.integers(1, 3))]
    shape[axis] = groups[axis] * m
    density = draw(st.sampled_from([0.1, n / m, 0.5, 0.9]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    mask = np.random.default_rng(seed).random(shape) < density
    return mask, NMPattern(n, m), axis


@settings(max_examples=300, deadline=None)
@given(masks())
def test_group_sums_in_place_equal_the_definition(case):
    mask, pattern, axis = case
    assert nm_violations(mask, pattern, axis) == plain_violations(mask, pattern, axis)
    assert nm_violations(mask.view(np.uint8), pattern, axis) == plain_violations(mask, pattern, axis)


@settings(max_examples=300, deadline=None)
@given(masks(rs_one=True, m_divides_8=True, axis=1), st.integers(0, 255))
def test_packed_bytes_equal_the_definition_whatever_the_padding(case, garbage):
    mask, pattern, _ = case
    packed = np.packbits(mask.reshape(-1))
    tail = mask.size % 8
    if tail:        # padding bits are not part of the mask: set them to anything
        packed[-1] |= garbage & (0xFF >> tail)
    assert packed_nm_violations(packed, mask.size, pattern) == plain_violations(mask, pattern, 1)


@settings(max_examples=300, deadline=None)
@given(masks(axis=0), st.sampled_from([8, 16, 64]))
def test_packed_rows_equal_the_definition(case, row_bits):
    """Backward masks whose rows (C/groups x R x S) fill whole bytes, or whole 8-byte words."""
    mask, pattern, _ = case
    mask = np.resize(mask, (mask.shape[0], row_bits, 1, 1))   # the drawn bits, repeated to the row's width
    assert packed_rows_nm_violations(np.packbits(mask.reshape(-1)), mask.shape, pattern) == \
        plain_violations(mask, pattern, 0)


def test_m_beyond_uint8_is_counted_wide():
    pattern = NMPattern(200, 300)
    mask = np.zeros((2, 600, 1, 1), bool)
    mask[0, :260] = True           # 260 of the first 300 kept: one group over N, and a sum above 255
    mask[1, 300:] = True           # 300 of 300
    assert nm_violations(mask, pattern, 1) == plain_violations(mask, pattern, 1) == 2


def _npz(path, arrays):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from([(1, 1), (3, 3)]), st.sampled_from(["2:8", "1:4", "2:4"]))
def test_load_and_check_agree_with_the_definition(tmp_path_factory, seed, rs, nm):
    pattern = NMPattern.parse(nm)
    layer = Layer(name="conv", kind="conv", C=16, K=8, R=rs[0], S=rs[1], stride=1, pad=rs[0] // 2, H=4, W=4,
                  groups=1, repeat=1, fwd_nm=pattern, bwd_nm=pattern, input_grad=1)
    rng = np.random.default_rng(seed)
    arrays = {}
    for direction, axis in (("fwd", 1), ("bwd", 0)):
        mask = rng.random((8, 16, *rs)) < rng.choice([0.15, 0.3, 0.6])
        arrays[f"conv/{direction}"] = np.packbits(mask.reshape(-1))
        arrays[f"conv/{direction}_mask"] = mask
    path = _npz(tmp_path_factory.mktemp("m") / "masks.npz",
                {"conv/shape": np.array((8, 16, *rs), np.int64),
                 **{k: v for k, v in arrays.items() if not k.endswith("_mask")}})
    bad = {d: plain_violations(arrays[f"conv/{d}_mask"], pattern, a) for d, a in (("fwd", 1), ("bwd", 0))}
    first = next((d for d in ("fwd", "bwd") if bad[d]), None)
    if first is None:
        loaded = load_masks(path, [layer])
        assert check_masks(path, [layer]) is None
        for d in ("fwd", "bwd"):
            assert loaded[("conv", d)].dtype == bool
            assert np.array_equal(loaded[("conv", d)], arrays[f"conv/{d}_mask"])
        return
    for read in (load_masks, check_masks):
        with pytest.raises(InputError, match=f"conv/{first}: {bad[first]} groups keep more than {pattern.n} of {pattern.m}"):
            read(path, [layer])


@pytest.mark.parametrize("shape, axis", [((64, 64, 1, 1), 1), ((64, 64, 3, 3), 1), ((64, 64, 3, 3), 0), ((512, 8, 1, 1), 0)])
def test_counts_beyond_a_byte(shape, axis):
    """Many violating groups (all kept): the totals are counted wide, whatever type sums a group."""
    mask = np.ones(shape, bool)
    pattern = NMPattern(2, 8)
    expected = mask.size // 8
    assert expected > 255 and plain_violations(mask, pattern, axis) == expected
    assert nm_violations(mask, pattern, axis) == expected
    if axis == 1 and shape[2] * shape[3] == 1:
        assert packed_nm_violations(np.packbits(mask.reshape(-1)), mask.size, pattern) == expected
    if axis == 0:
        assert packed_rows_nm_violations(np.packbits(mask.reshape(-1)), shape, pattern) == expected



def test_masks_npz_is_deflated_only_where_that_pays_and_reads_back_the_same(tmp_path):
    """Random 4:8 masks barely deflate (to about 0.8): stored; 1:32 masks deflate well (to about
    0.3): deflated. Either way load_masks gives the masks back."""
    import zipfile

    from sparseloom.workloads.masks import STORED_ABOVE, masks_bytes

    rng = np.random.default_rng(0)
    for n, m, kind in ((4, 8, zipfile.ZIP_STORED), (1, 32, zipfile.ZIP_DEFLATED)):
        layer = Layer("fc", "linear", 256, 64, fwd_nm=NMPattern(n, m), bwd_nm=NMPattern(1, 1), input_grad=0)
        groups = rng.random((64, 256 // m, m))
        mask = (groups >= np.sort(groups, axis=-1)[..., [m - n]]).reshape(64, 256, 1, 1)   # the n largest of each m
        path = tmp_path / f"{n}of{m}.npz"
        path.write_bytes(masks_bytes({("fc", "fwd"): mask}))
        members = zipfile.ZipFile(path).infolist()
        assert {i.compress_type for i in members} == {kind}
        raw, packed = sum(i.file_size for i in members), sum(i.compress_size for i in members)
        assert (packed <= STORED_ABOVE * raw) == (kind == zipfile.ZIP_DEFLATED)
        assert np.array_equal(load_masks(path, [layer])[("fc", "fwd")], mask)
