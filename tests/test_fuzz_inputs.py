"""Fuzzing the loaders and ``simulate`` (issue 19, part 6): generated arch files, layers.csv rows
and sweep specs either load and simulate to non-negative finite totals, or fail with the
project's own error (:class:`InputError`, :class:`CapacityError`); any other exception fails."""
from __future__ import annotations

import copy
import math
import os
import shutil

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparseloom.arch.schema import load_arch
from sparseloom.core.errors import CapacityError, InputError
from sparseloom.explore.spec import load_spec
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import COLUMNS, load_workload

from .conftest import ROOT, SAT

DIGITS = ROOT / "workloads" / "digits_bdwp_2of8"
OWN_ERRORS = (InputError, CapacityError)
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 100)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(
    st.integers(-3, 70), st.integers(-(10 ** 20), 10 ** 20), st.sampled_from([0, 1, 2 ** 63, 10 ** 400]),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-3, 1e4))
values = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=8),
                   st.sampled_from(["1:30", "yes", "1_000", "2:8", "dense", "weight_stationary"]),
                   st.lists(st.integers(0, 5), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _paths(data, prefix=()):
    """Every (path, value) of a nested mapping, lists included."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


SAT_DATA = yaml.safe_load(SAT.read_text())
SAT_PATHS = list(_paths(SAT_DATA))


def _get(data, path):
    for key in path:
        data = data[key]
    return data


SAT_LEAVES = [p for p in SAT_PATHS if p[0] not in ("name", "description", "rtl")
              and not isinstance(_get(SAT_DATA, p), (dict, list))]


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


_DELETE = object()


def _check(result):
    for name, value in result.totals.items():
        assert math.isfinite(value) and value >= 0, (name, value)


def _near(original):
    """A value close to a valid one, most of the time (so that simulate is reached), else anything."""
    if isinstance(original, bool):
        near = st.booleans()
    elif isinstance(original, (int, float)):
        near = st.sampled_from([0, 0.001, 0.5, 2, 3, 16, 1000, 10 ** 6]).map(lambda f: type(original)(original * f))
        near = st.one_of(near, st.integers(-1, 70).map(type(original)))
    elif isinstance(original, str) and original in ("weight_stationary", "output_stationary"):
        near = st.sampled_from(["weight_stationary", "output_stationary", "input_stationary"])
    else:
        return st.one_of(values, st.just(_DELETE))
    return st.one_of(near, near, near, near, near, near, values, st.just(_DELETE))


@st.composite
def arch_edits(draw):
    edits = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(SAT_LEAVES if draw(st.integers(0, 4)) else SAT_PATHS))
        edits.append((path, draw(_near(_get(SAT_DATA, path)))))
    return edits


@FUZZ
@given(arch_edits(), st.sampled_from(["analytic", "analytic", "event"]))
def test_generated_arch_files(tmp_path_factory, edits, fidelity):
    data = copy.deepcopy(SAT_DATA)
    for path, value in edits:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError):      # an earlier edit removed or replaced its parent
            pass
    path = tmp_path_factory.mktemp("arch") / "arch.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        arch = load_arch(path)
        _check(simulate(arch, load_workload(DIGITS), fidelity))
    except OWN_ERRORS:
        pass


wild_cells = st.one_of(st.integers(-2, 40).map(str), st.integers(-(10 ** 12), 10 ** 12).map(str),
                       st.sampled_from(["", "dense", "2:8", "1:4", "8:2", "conv", "linear", "matmul", "0.5", "nan",
                                        "inf", "1e400", " 3", "x", "1,2", '"', "\ufeff", "\x00"]))


@st.composite
def layer_row(draw):
    """A plausible layers.csv row (without its name), sometimes with one cell replaced by anything."""
    kind = draw(st.sampled_from(["conv", "linear", "matmul"]))
    groups = draw(st.sampled_from([1, 1, 2]))
    c, k = (groups * draw(st.sampled_from([1, 3, 8, 16, 24])) for _ in range(2))
    r = draw(st.integers(1, 3)) if kind == "conv" else 1
    sparse = kind != "matmul" and draw(st.booleans())
    nm = lambda length: "2:8" if sparse and (length // groups) % 8 == 0 else "dense"   # noqa: E731
    cells = [kind, c, k, r, r, draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 12)),
             draw(st.integers(1, 12)) if kind == "conv" else 1, groups, draw(st.integers(1, 3)), nm(c), nm(k),
             draw(st.integers(0, 1)), draw(st.sampled_from(["", "0.5", "1.0"])), draw(st.sampled_from(["", "0.25"]))]
    cells = [str(v) for v in cells]
    if draw(st.integers(0, 3)) == 0:
        cells[draw(st.integers(0, len(cells) - 1))] = draw(wild_cells)
    if draw(st.integers(0, 9)) == 0:
        cells = cells[:-1] if draw(st.booleans()) else cells + [draw(wild_cells)]
    return cells


@FUZZ
@given(st.lists(layer_row(), min_size=1, max_size=3), st.booleans(), st.sampled_from(["training", "inference"]))
def test_generated_layer_rows(tmp_path_factory, rows, keep_masks, mode):
    folder = tmp_path_factory.mktemp("trace") / "t"
    shutil.copytree(DIGITS, folder)
    (folder / "ops.csv").unlink()
    names = ["conv1", "conv2", "fc"] if keep_masks else [f"l{i}" for i in range(len(rows))]
    if not keep_masks:
        (folder / "masks.npz").unlink()
    lines = [",".join(COLUMNS)] + [",".join([name, *row]) for name, row in zip(names, rows)]
    (folder / "layers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    meta = yaml.safe_load((folder / "workload.yaml").read_text())
    meta.update(mode=mode, input_shape=[int(rows[0][1]) if rows[0][1].isdigit() else 1, 8, 8])
    (folder / "workload.yaml").write_text(yaml.safe_dump(meta))
    try:
        workload = load_workload(folder)
        _check(simulate(load_arch(SAT), workload))
    except OWN_ERRORS:
        pass


spec_values = st.one_of(values, st.lists(values, max_size=3))


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "base_arch", "workloads", "parameters", "sampling", "metrics",
                                        "fidelity", "fixed", "description", "extra"]), spec_values, max_size=6),
       st.dictionaries(st.sampled_from(["array.rows", "dram.channels", "workload.batch", "workload.nm",
                                        "workload.mode", "buffers.input_buffer.size_kib", "nope.x"]),
                       st.lists(values, max_size=3), max_size=3))
def test_generated_sweep_specs(tmp_path_factory, changes, parameters):
    spec = {"name": "t", "base_arch": str(SAT), "workloads": [str(DIGITS)], "parameters": parameters,
            "sampling": {"method": "grid"}, "metrics": ["cycles"], **changes}
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        load_spec(path)
    except OWN_ERRORS:
        pass
