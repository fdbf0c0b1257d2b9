"""Stage results reused between simulations (core/reuse.py): each stage reads only the arch fields
its key names, and simulations with reuse give what fresh ones give, bit for bit."""
from __future__ import annotations

import inspect
import types
from dataclasses import fields, replace
from functools import cached_property, partial
from pathlib import Path

import numpy as np
import pytest

from sparseloom.arch.schema import DTYPE_BYTES, Arch, load_arch
from sparseloom.core import reuse
from sparseloom.core.reuse import reused, reusing
from sparseloom.dataflow.gemms import build_gemms
from sparseloom.dataflow.ops import JOB_INPUTS, vector_jobs
from sparseloom.dataflow.schedule import GEMM_INPUTS
from sparseloom.dataflow.search import CANDIDATE_INPUTS, _distinct_candidates
from sparseloom.sim.cost import TIMING_INPUTS, TRAFFIC_INPUTS, _bounded_timing
from sparseloom.sim.simulate import simulate
from sparseloom.sim.traffic import gemm_traffic
from sparseloom.workloads.trace import load_workload

ROOT = Path(__file__).resolve().parent.parent
PRESETS = sorted(p.stem for p in (ROOT / "arch").glob("*.yaml"))
TRACES = sorted(p.name for p in (ROOT / "workloads").iterdir() if (p / "layers.csv").exists())


class _Only:
    """``obj`` (an arch, or a part of one) refusing every field (and property) not in ``names``:
    a dotted name admits only that sub-field, through a view of the sub-dataclass (of each item
    of a list field) that refuses its other fields. Properties and methods of the dataclass run
    on the view, so what they read is refused too."""

    def __init__(self, obj, names: tuple[str, ...], where: str = "arch"):
        self._obj, self._names, self._where = obj, names, where

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._names:
            return getattr(self._obj, name)
        below = tuple(n[len(name) + 1:] for n in self._names if n.startswith(name + "."))
        where = f"{self._where}.{name}"
        if below:
            value = getattr(self._obj, name)
            if isinstance(value, list):
                return [_Only(item, below, f"{where}[{i}]") for i, item in enumerate(value)]
            return _Only(value, below, where)
        if name in {f.name for f in fields(self._obj)}:
            raise AssertionError(f"the stage reads {where}, which its key leaves out ({self._names})")
        attr = inspect.getattr_static(type(self._obj), name)
        if isinstance(attr, property):
            return attr.fget(self)
        if isinstance(attr, cached_property):
            return attr.func(self)
        if callable(attr):
            return types.MethodType(attr, self)
        raise AttributeError(name)


def _same(a, b) -> bool:
    """Equal values, array by array (NaN equal to NaN), through dataclasses, dicts, lists and tuples."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and bool(
            np.all((a == b) | ((a != a) & (b != b))) if a.dtype.kind == "f" else np.all(a == b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(_same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def _pairs():
    return [(a, t) for a in PRESETS for t in TRACES]


@pytest.fixture(scope="module")
def loaded():
    return {"arch": {a: load_arch(ROOT / "arch" / f"{a}.yaml") for a in PRESETS},
            "trace": {t: load_workload(ROOT / "workloads" / t) for t in TRACES}}


@pytest.mark.parametrize("preset,trace", _pairs())
def test_each_stage_reads_only_the_arch_fields_its_key_names(loaded, preset, trace):
    arch, w = loaded["arch"][preset], loaded["trace"][trace]
    g = build_gemms(w, arch)
    assert _same(build_gemms(w, _Only(arch, GEMM_INPUTS)), g)
    distinct = _distinct_candidates(g, arch)
    assert _same(_distinct_candidates(g, _Only(arch, CANDIDATE_INPUTS))[:2], distinct[:2])
    candidates, same_timing = distinct[2], distinct[4]
    rows = np.arange(0, len(candidates.m), 3)
    assert _same(_bounded_timing(candidates, _Only(arch, TIMING_INPUTS), same_timing),
                 _bounded_timing(candidates, arch, same_timing))
    part = candidates.take(rows)
    assert _same(gemm_traffic(part, _Only(arch, TRAFFIC_INPUTS)), gemm_traffic(part, arch))
    resident = np.ones(len(w.layers), bool)
    assert vector_jobs(w, _Only(arch, JOB_INPUTS), resident) == vector_jobs(w, arch, resident)


def _variants(arch: Arch) -> list[Arch]:
    """Archs a sweep makes: each differs from ``arch`` in a value one stage or another reads, or in
    values some stages leave out of their keys (each after an arch it shares those stages with)."""
    a, buffers, v, s, o = arch.array, arch.buffers, arch.vector_engine, arch.sparsity, arch.dataflow_options
    costs = v.cycles_per_element
    same_bytes = next(d for d in DTYPE_BYTES if d != a.accumulator_dtype and DTYPE_BYTES[d] == arch.accumulator_bytes)
    half_input = [replace(b, size_kib=b.size_kib / 2) if b.holds == ["input"] else b for b in buffers]
    shape = dict(rows=a.rows // 2, cols=a.cols * 2)
    depth = 1 if a.mac_pipeline_stages > 1 else 3          # another pipeline depth
    return [arch,
            # what the GEMM table and the candidates leave out
            replace(arch, array=replace(a, mac_pipeline_stages=depth)),
            replace(arch, array=replace(a, weight_double_buffer=not a.weight_double_buffer)),
            replace(arch, array=replace(a, mac_pipeline_stages=2, weight_double_buffer=not a.weight_double_buffer)),
            replace(arch, buffers=[replace(b, width_bits=b.width_bits * 2, banks=b.banks * 2) for b in buffers]),
            replace(arch, buffers=[replace(b, ports=b.ports + 1) if b.holds == ["input"] else b for b in buffers]),
            replace(arch, dataflow_options=replace(o, pregenerate=not o.pregenerate)),
            replace(arch, sparsity=replace(s, max_m=s.max_m * 2,
                                           decompress_elements_per_cycle=s.decompress_elements_per_cycle * 2 or 64.0)),
            replace(arch, vector_engine=replace(v, precision="fp16" if v.precision != "fp16" else "fp32",
                                                fusion="none" if v.fusion != "none" else "bn_relu")),
            replace(arch, vector_engine=replace(v, cycles_per_element=replace(costs, mac=costs.mac * 2))),
            replace(arch, vector_engine=replace(v, cycles_per_element=replace(costs, elementwise=costs.elementwise * 2,
                                                                              normalize=costs.normalize * 3))),
            # what the traffic or the tile timing leaves out
            replace(arch, array=replace(a, accumulator_latency_cycles=a.accumulator_latency_cycles + 3)),
            replace(arch, array=replace(a, accumulator_dtype=same_bytes)),
            replace(arch, array=replace(a, dataflows=a.dataflows[::-1])),
            replace(arch, vector_engine=replace(v, runs_gemms=not v.runs_gemms)),
            # the array's shape, then with another pipeline depth; the same with a smaller input buffer
            replace(arch, array=replace(a, **shape)),
            replace(arch, array=replace(a, **shape, mac_pipeline_stages=depth)),
            replace(arch, array=replace(a, **shape, mac_pipeline_stages=depth, weight_double_buffer=not a.weight_double_buffer),
                    buffers=[replace(b, width_bits=b.width_bits * 2) for b in buffers]),
            replace(arch, buffers=half_input),
            replace(arch, buffers=half_input, array=replace(a, mac_pipeline_stages=depth)),
            replace(arch, buffers=half_input, array=replace(a, mac_pipeline_stages=depth), clock_mhz=arch.clock_mhz * 1.5,
                    dram=replace(arch.dram, channels=arch.dram.channels * 2)),
            replace(arch, clock_mhz=arch.clock_mhz * 1.5),
            replace(arch, dram=replace(arch.dram, channels=arch.dram.channels * 2)),
            replace(arch, buffers=[replace(b, size_kib=b.size_kib * 4) for b in buffers]),
            replace(arch, energy=replace(arch.energy, dram_pj_per_byte=arch.energy.dram_pj_per_byte * 2)),
            replace(arch, vector_engine=replace(v, lanes=v.lanes * 2)),
            replace(arch, dataflow_options=replace(o, interleave=not o.interleave)),
            replace(arch, dataflow_options=replace(o, offline_schedule=not o.offline_schedule)),
            replace(arch, sparsity=replace(s, activation_skipping=not s.activation_skipping)),
            arch]


def _outcome(arch, w, fidelity):
    try:
        r = simulate(arch, w, fidelity)
    except Exception as error:  # noqa: BLE001 - a variant may not fit; fresh and reused must agree
        return f"{type(error).__name__}: {error}"
    return (r.totals, {c: r.gemm_table[c] for c in r.gemm_table.names}, {c: r.side_table[c] for c in r.side_table.names},
            r.notes, r.schedule.gemms)


@pytest.mark.parametrize("preset,trace,fidelity", [("sat", "resnet50_2of8", "analytic"), ("sat", "deit_small_2of8", "analytic"),
                                                   ("sat", "resnet9_2of8", "event"), ("s4", "efficientnet_lite0_1of32", "analytic")])
def test_simulations_with_reuse_equal_fresh_ones(loaded, preset, trace, fidelity):
    arch, w = loaded["arch"][preset], loaded["trace"][trace]
    archs = _variants(arch)
    workloads = [w, w.with_batch(w.meta.batch_size * 2)]
    fresh = [_outcome(a, x, fidelity) for a in archs for x in workloads]
    for _ in range(2):      # the second pass finds every stage kept (as many as KEPT holds)
        with reusing():
            again = [_outcome(a, x, fidelity) for a in archs for x in workloads]
        assert all(_same(f, r) for f, r in zip(fresh, again))


def test_points_that_differ_only_in_values_a_stage_leaves_out_share_it(loaded, monkeypatch):
    """The GEMM table and the candidates are made once for archs that differ only in the PE's
    pipeline depth, its weight double buffer and the buffers' ports (and equal what fresh
    simulations give: :func:`test_simulations_with_reuse_equal_fresh_ones`); the tile timing once
    per pipeline depth; another array shape makes its own."""
    from sparseloom.dataflow import schedule, search
    from sparseloom.sim import cost

    calls = {"gemms": 0, "candidates": 0, "timing": 0}

    def counted(name, function):
        def call(*args):
            calls[name] += 1
            return function(*args)
        return call

    monkeypatch.setattr(reuse, "_store", {})          # nothing kept from the tests before
    monkeypatch.setattr(schedule, "build_gemms", counted("gemms", schedule.build_gemms))
    monkeypatch.setattr(search, "_distinct_candidates", counted("candidates", search._distinct_candidates))
    monkeypatch.setattr(cost, "_bounded_timing", counted("timing", cost._bounded_timing))
    arch, w = loaded["arch"]["sat"], loaded["trace"]["resnet50_2of8"]
    a = arch.array
    depth = 1 if a.mac_pipeline_stages > 1 else 3
    archs = [arch, replace(arch, array=replace(a, mac_pipeline_stages=depth)),
             replace(arch, array=replace(a, mac_pipeline_stages=depth, weight_double_buffer=not a.weight_double_buffer),
                     buffers=[replace(b, width_bits=b.width_bits * 2, ports=b.ports + 1) for b in arch.buffers]),
             replace(arch, array=replace(a, rows=a.rows // 2, mac_pipeline_stages=depth))]
    with reusing():
        for x in archs:
            simulate(x, w)
    assert calls == {"gemms": 2, "candidates": 2, "timing": 4}


def test_outside_reusing_every_stage_runs_and_kept_results_are_read_only():
    calls = []

    def make():
        calls.append(1)
        return {"column": np.arange(3)}

    arch = load_arch(ROOT / "arch" / "sat.yaml")
    token = object()
    for _ in range(2):
        reused("stage", (token,), arch, ("array",), make)
    assert len(calls) == 2
    with reusing():
        first = reused("stage", (token,), arch, ("array",), make)
        assert reused("stage", (token,), arch, ("array",), make) is first and len(calls) == 3
        reused("stage", (object(),), arch, ("array",), make)                     # another object
        reused("stage", (token,), replace(arch, array=replace(arch.array, rows=8)), ("array",), make)
        reused("stage", (token,), arch, ("array",), make, b"other values")
        assert len(calls) == 6
        with pytest.raises(ValueError):
            first["column"][0] = 1
        nested = reused("nested", (token,), arch, (), lambda: (build_gemms(load_workload(ROOT / "workloads" / "resnet9_2of8"), arch),
                                                            [np.zeros(2)]))
        assert not nested[0].m.flags.writeable and not nested[1][0].flags.writeable
        with reusing():
            pass
        assert reused("stage", (token,), arch, ("array",), make) is first      # still inside the outer one
    reused("stage", (token,), arch, ("array",), make)
    assert len(calls) == 7


def test_a_dotted_name_keys_by_that_sub_field_of_the_arch_only():
    arch = load_arch(ROOT / "arch" / "sat.yaml")
    a, v = arch.array, arch.vector_engine
    costs = v.cycles_per_element
    names = ("array.rows", "buffers.size_kib", "vector_engine.cycles_per_element.mac")
    calls = []

    def make():
        calls.append(1)
        return len(calls)

    token = object()
    alike = [replace(arch, array=replace(a, cols=a.cols * 2, mac_pipeline_stages=a.mac_pipeline_stages + 1)),
             replace(arch, buffers=[replace(b, width_bits=b.width_bits * 2) for b in arch.buffers]),
             replace(arch, vector_engine=replace(v, lanes=v.lanes * 2, cycles_per_element=replace(costs, pooling=9.0)))]
    other = [replace(arch, array=replace(a, rows=a.rows * 2)),
             replace(arch, buffers=[replace(b, size_kib=b.size_kib * 2) if b.holds == ["weight"] else b for b in arch.buffers]),
             replace(arch, vector_engine=replace(v, cycles_per_element=replace(costs, mac=costs.mac * 2)))]
    with reusing():
        assert [reused("dotted", (token,), x, names, make) for x in [arch] + alike] == [1, 1, 1, 1]
        assert [reused("dotted", (token,), x, names, make) for x in other + [arch]] == [2, 3, 4, 1]


def test_a_sweep_point_with_reuse_equals_the_point_alone(tmp_path):
    from sparseloom.explore.evaluate import evaluate, evaluate_many
    from sparseloom.explore.points import design_points
    from sparseloom.explore.spec import load_spec

    spec_file = tmp_path / "s.yaml"
    spec_file.write_text(
        f"name: s\nbase_arch: {ROOT / 'arch' / 'sat.yaml'}\nworkloads: [{ROOT / 'workloads' / 'resnet9_2of8'}]\n"
        "parameters:\n  array.rows: [16, 32]\n  buffers.input_buffer.size_kib: [256, 4096]\n"
        "  dram.channels: [1, 4]\n  clock_mhz: [150, 190]\n"
        "sampling:\n  method: grid\nmetrics: [cycles, time_ms, energy_uj, dram_bytes, stall_dram, lut]\n")
    spec = load_spec(spec_file)
    points = design_points(spec)
    alone = [evaluate(spec, p) for p in points]
    together = evaluate_many(spec, points)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert drop(together) == drop(alone) and all(r["status"] == "ok" for r in alone)


def test_reuse_keeps_a_bounded_number_of_results():
    arch = load_arch(ROOT / "arch" / "sat.yaml")
    with reusing():
        for i in range(reuse.KEPT + 10):
            reused("bounded", (), arch, (), partial(int, i), i)
        assert len(reuse._store) <= reuse.KEPT


def test_threads_reusing_at_once_get_what_fresh_simulations_give(loaded):
    from concurrent.futures import ThreadPoolExecutor

    archs, w = _variants(loaded["arch"]["sat"]), loaded["trace"]["resnet9_2of8"]
    fresh = [_outcome(a, w, "analytic") for a in archs]

    def run(order):
        with reusing():
            return [(i, _outcome(archs[i], w, "analytic")) for _ in range(3) for i in order]

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(run, [list(range(len(archs))), list(range(len(archs)))[::-1]]))
    assert all(_same(fresh[i], outcome) for results in runs for i, outcome in results)
