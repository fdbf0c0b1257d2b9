"""Every class of bad input file ends in the project's named error (file, key, expectation),
never a traceback, a hang or a silently wrong number (issue 19, part 1)."""
from __future__ import annotations

import io
import os
import re
import zipfile
from functools import partial

import numpy as np
import pytest
import yaml

from sparseloom.arch.schema import load_arch
from sparseloom.core.errors import CapacityError, InputError
from sparseloom.core.input_files import MAX_ALIASES, MAX_NODES, YAML_CAP, read_npz
from sparseloom.dataflow.schedule import load_schedule
from sparseloom.explore.spec import load_spec
from sparseloom.sim.simulate import simulate
from sparseloom.workloads.trace import MAX_LAYERS, load_workload

from .conftest import ROOT, SAT, copy_trace, edit_file

DIGITS = ROOT / "workloads" / "digits_bdwp_2of8"     # 3 layers, N:M masks in both directions


def _error(load, path) -> str:
    with pytest.raises(InputError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def _arch_text(tmp_path, text: str | bytes):
    path = tmp_path / "arch.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _sat_with(tmp_path, old: str, new: str):
    text = SAT.read_text()
    assert old in text
    return _arch_text(tmp_path, text.replace(old, new, 1))


# --- the file itself -------------------------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    ("café".encode("latin-1"), "expected UTF-8 text, found byte 0xe9"),
    ("name: SAT\n".encode("utf-16"), "expected UTF-8 text"),
    (bytes(range(256)), "expected UTF-8 text"),
    (b"name: SAT\x00\n", "NUL byte"),
])
def test_arch_that_is_not_utf8_text(tmp_path, content, expected):
    assert expected in _error(load_arch, _arch_text(tmp_path, content))


def test_arch_that_is_a_directory_fifo_device_or_too_large(tmp_path):
    assert "directory" in _error(load_arch, tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)                      # opening it for reading would block forever
    assert "regular file" in _error(load_arch, fifo)
    assert "regular file" in _error(load_arch, "/dev/zero")
    big = _arch_text(tmp_path, b"# " + b"x" * YAML_CAP)
    assert "at most 1.0 MiB" in _error(load_arch, big)
    assert "file not found" in _error(load_arch, tmp_path / "missing.yaml")


# --- the YAML loader -------------------------------------------------------------------------

def test_duplicate_keys_are_refused(tmp_path):
    message = _error(load_arch, _sat_with(tmp_path, "clock_mhz: 200", "clock_mhz: 200\nclock_mhz: 250"))
    assert "duplicate key 'clock_mhz'" in message and "line" in message


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]   # 90 aliases, 10^10 leaves
    message = _error(load_arch, _arch_text(tmp_path, "\n".join(lines) + "\n"))
    assert f"more than {MAX_NODES:,} values once its aliases are expanded" in message
    many = "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    assert f"more than {MAX_ALIASES} aliases" in _error(load_arch, _arch_text(tmp_path, many))


@pytest.mark.parametrize("old, new, expected", [
    ("clock_mhz: 200", "clock_mhz: 1:30", "clock_mhz: expected a number, got '1:30'"),        # YAML 1.1: 90
    ("weight_double_buffer: true", "weight_double_buffer: yes", "expected true or false, got 'yes'"),
    ("weight_double_buffer: true", "weight_double_buffer: on", "expected true or false, got 'on'"),
    ("rows: 32 ", "rows: 1_000 ", "array.rows: expected an integer, got '1_000'"),          # YAML 1.1: 1000
    ("rows: 32 ", "rows: 0x20 ", None),                                                     # 1.2 hex is an integer
])
def test_yaml_12_scalars(tmp_path, old, new, expected):
    path = _sat_with(tmp_path, old, new)
    if expected is None:
        assert load_arch(path).array.rows == 32
    else:
        assert expected in _error(load_arch, path)


def test_control_characters_in_names(tmp_path):
    assert "control characters" in _error(load_arch, _sat_with(tmp_path, "name: SAT", 'name: "SA\\x07T"'))


# --- numeric limits per field ----------------------------------------------------------------

@pytest.mark.parametrize("old, new, key", [
    ("clock_mhz: 200", "clock_mhz: .inf", "clock_mhz: expected a finite number"),
    ("clock_mhz: 200", "clock_mhz: .nan", "clock_mhz: expected a finite number"),
    ("clock_mhz: 200", "clock_mhz: 1e300", "clock_mhz: expected a number from 1 to 10,000 MHz"),
    ("clock_mhz: 200", f"clock_mhz: {10 ** 400}", "clock_mhz: expected a finite number"),
    ("size_kib: 4096", "size_kib: 1e30", "buffers[0].size_kib: expected a number from"),
    ("mac_pj: 1.5", "mac_pj: .inf", "energy.mac_pj: expected a finite number"),
    ("mac_pj: 1.5", "mac_pj: 1e300", "energy.mac_pj: expected a number from 0 to 1,000,000.0 pJ"),
    ("accumulator_latency_cycles: 4", f"accumulator_latency_cycles: {10 ** 18}", "from 1 to 1,024 cycles"),
    ("rows: 32 ", f"rows: {10 ** 18} ", "array.rows: expected a number from 1 to 4,096 PEs"),
    ("channels: 4 ", f"channels: {10 ** 6} ", "dram.channels: expected a number from 1 to 256"),
    ("  cycles_per_element: 1   # stated", f"  cycles_per_element: {10 ** 30}   # stated", "magnitude below 2**63"),
    ("elementwise: 1 ", "elementwise: 1e-300 ", "cycles_per_element.elementwise: expected a number from 0.001"),
])
def test_numbers_outside_their_physical_bounds(tmp_path, old, new, key):
    assert key in _error(load_arch, _sat_with(tmp_path, old, new))


# --- workload traces -------------------------------------------------------------------------

def _trace(tmp_path, source=DIGITS):
    return copy_trace(tmp_path, source)


def _edit_layers(folder, old: str, new: str):
    edit_file(folder / "layers.csv", old, new)


@pytest.mark.parametrize("old, new, expected", [
    ("conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,2:8,1,0.5004,1.0",
     "conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,2:8,1,0.5004,1.0,7", "line 3: expected 17 cells, found 18"),
    ("conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,2:8,1,0.5004,1.0", "conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,2:8,1",
     "the row ends before act_density"),
    ("conv2,conv,16,32,3,3,1,1,8,8,1,1,", f"conv2,conv,16,32,3,3,1,1,8,8,1,{10 ** 9},",
     "line 3, column repeat: expected at most 1,048,576"),
    ("conv2,conv,16,32,", f"conv2,conv,16,{10 ** 30},", "line 3, column K: expected at most"),
])
def test_layers_csv_cells(tmp_path, old, new, expected):
    folder = _trace(tmp_path)
    _edit_layers(folder, old, new)
    assert expected in _error(load_workload, folder)


def test_layers_csv_that_is_not_utf8_or_too_long(tmp_path):
    folder = _trace(tmp_path)
    (folder / "layers.csv").write_bytes((folder / "layers.csv").read_bytes().replace(b"conv1", b"conv\xe9"))
    assert "layers.csv: line 2: expected UTF-8 text" in _error(load_workload, folder)
    lines = (ROOT / "workloads" / "resnet50_dense" / "layers.csv").read_text().splitlines()
    row = lines[1].split(",")
    rows = [",".join([f"l{i}"] + row[1:]) for i in range(MAX_LAYERS + 1)]
    (folder / "layers.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    (folder / "masks.npz").unlink()
    (folder / "ops.csv").unlink()
    assert f"expected at most {MAX_LAYERS:,} layers" in _error(load_workload, folder)


def test_workload_yaml_must_describe_its_layers(tmp_path):
    folder = _trace(tmp_path)
    meta = yaml.safe_load((folder / "workload.yaml").read_text())
    meta["sparsity"]["nm"] = "2:4"
    (folder / "workload.yaml").write_text(yaml.safe_dump(meta))
    assert "layer conv1 bwd_nm is 2:8, but workload.yaml states 2:4" in _error(load_workload, folder)
    meta["sparsity"]["nm"], meta["input_shape"] = "2:8", [3, 8, 8]
    (folder / "workload.yaml").write_text(yaml.safe_dump(meta))
    assert "input_shape: expected the first layer's C, H, W [1, 8, 8]" in _error(load_workload, folder)


# --- masks.npz -------------------------------------------------------------------------------

def _masks(folder) -> dict:
    with np.load(folder / "masks.npz") as data:
        return {k: data[k] for k in data.files}


def _write_masks(folder, arrays: dict):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    (folder / "masks.npz").write_bytes(buffer.getvalue())


def test_masks_are_validated_for_an_nm_trace_whatever_the_arch(tmp_path):
    folder = _trace(tmp_path)
    arrays = _masks(folder)
    arrays["conv2/fwd"] = np.full_like(arrays["conv2/fwd"], 255)    # keeps 8 of 8 in every group
    _write_masks(folder, arrays)
    assert "conv2/fwd: 576 groups keep more than 2 of 8" in _error(load_workload, folder)


@pytest.mark.parametrize("corrupt, expected", [
    (lambda b: os.urandom(len(b)), "not a readable .npz archive"),
    (lambda b: b[: len(b) // 2], "not a readable .npz archive"),
    ("flip", "not a readable .npz archive"),    # a flipped byte in a member's compressed data: CRC or zlib
])
def test_corrupt_masks_npz(tmp_path, corrupt, expected):
    folder = _trace(tmp_path)
    path = folder / "masks.npz"
    data = path.read_bytes()
    if corrupt == "flip":
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("fc/fwd.npy")
        at = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1:])
    else:
        path.write_bytes(corrupt(data))
    assert expected in _error(load_workload, folder)


def test_masks_of_the_wrong_length_dtype_or_pickled(tmp_path):
    folder = _trace(tmp_path)
    arrays = _masks(folder)
    _write_masks(folder, {**arrays, "fc/fwd": arrays["fc/fwd"][:-1]})           # one byte short
    assert "fc/fwd: expected 2,560 packed bytes" in _error(load_workload, folder)
    _write_masks(folder, {**arrays, "fc/fwd": arrays["fc/fwd"][:320].astype(np.float64)})
    assert "fc/fwd: expected an array of uint8 or int64, found float64" in _error(load_workload, folder)
    _write_masks(folder, {**arrays, "fc/fwd": np.array([{"x": 1}], dtype=object)})
    assert "no pickles are read" in _error(load_workload, folder)
    _write_masks(folder, {**arrays, "fc/shape": np.array([10, 2048, 1, 2], np.int64)})
    assert "fc/shape: expected the weight shape (10, 2048, 1, 1)" in _error(load_workload, folder)


def _zip_member(path, name: str, payload: bytes, extra: dict | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in (extra or {}).items():
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
        archive.writestr(name, payload)


def test_masks_npz_bombs_are_refused_before_reading(tmp_path):
    folder = _trace(tmp_path)
    path = folder / "masks.npz"
    # a member whose header claims 10^12 elements (numpy would allocate 931 GiB)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10 ** 12,)})
    _zip_member(path, "fc/fwd.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    assert "the header claims shape (1000000000000,)" in _error(load_workload, folder)
    # a 64 MiB member of zeros that compresses to 64 KiB (a zip bomb): its stated size is refused
    _zip_member(path, "fc/fwd.npy", bytes(64 << 20))
    assert "expected at most 2,560 B uncompressed" in _error(load_workload, folder)


def test_read_npz_reads_what_numpy_wrote(tmp_path):
    arrays = {"a": np.arange(10, dtype=np.int64), "b": np.array([[1, 2], [3, 4]], np.uint8).T}
    path = tmp_path / "x.npz"
    np.savez(path, **arrays)
    back = read_npz(path, member_bytes=1024)
    assert set(back) == {"a", "b"} and all((back[k] == arrays[k]).all() for k in arrays)


# --- totals that could exceed int64 ----------------------------------------------------------

def test_batch_limit_and_the_iteration_size_limit(tmp_path):
    workload = load_workload(DIGITS)
    for batch in (0, -5, 10 ** 12, True, 1.5):
        with pytest.raises(InputError, match="expected a batch size from 1 to 1,048,576"):
            workload.with_batch(batch)
    folder = _trace(tmp_path)
    (folder / "masks.npz").unlink()
    (folder / "ops.csv").unlink()
    # every cell within its bound, their product (2^20 x 2^20 x 2^10 tokens = 2^50 MACs x 3 phases) not
    _edit_layers(folder, "fc,linear,2048,10,1,1,1,0,1,1,1,1,2:8,dense", f"fc,linear,{1 << 20},{1 << 20},1,1,1,0,1024,1,1,1,dense,dense")
    big = load_workload(folder)
    with pytest.raises(InputError, match=r"the model's stated limit is 2\^50"):
        simulate(load_arch(SAT), big)


# --- sweep specs and schedules ---------------------------------------------------------------

def _spec(tmp_path, **changes):
    spec = {"name": "t", "base_arch": str(SAT), "workloads": [str(DIGITS)],
            "parameters": {"array.rows": [8, 16]}, "sampling": {"method": "grid"}, "metrics": ["cycles"]}
    spec.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("changes, expected", [
    ({"parameters": {"workload.batch": [True]}}, "parameters.workload.batch[0]: expected a batch size"),
    ({"parameters": {"workload.batch": [1.5]}}, "parameters.workload.batch[0]: expected a batch size"),
    ({"parameters": {"workload.batch": [-5]}}, "parameters.workload.batch[0]: expected a batch size"),
    ({"fixed": {"workload.batch": 0}}, "fixed.workload.batch: expected a batch size"),
    ({"parameters": {"workload.mode": ["train"]}}, "expected training or inference, got 'train'"),
    ({"parameters": {"workload.nm": ["3:2"]}}, "expected 1 <= N <= M"),
    ({"parameters": {"array.rows": [8, 16, 8]}}, "parameters.array.rows[2]: expected each value once, 8 repeats"),
    ({"workloads": [str(DIGITS), str(DIGITS)]}, "workloads: expected each workload once"),
])
def test_bad_sweep_values(tmp_path, changes, expected):
    assert expected in _error(load_spec, _spec(tmp_path, **changes))


def test_schedule_with_a_duplicate_key(tmp_path):
    from sparseloom.dataflow.schedule import make_schedule, schedule_yaml
    from sparseloom.sim.cost import CandidateCost

    arch, workload = load_arch(SAT), load_workload(DIGITS)
    schedule = make_schedule(workload, arch, partial(CandidateCost, arch))
    good = schedule_yaml(schedule, workload, arch)
    path = tmp_path / "schedule.yaml"
    path.write_text(good.replace("batch:", "batch: 1\nbatch:", 1))
    assert "duplicate key 'batch'" in _error(lambda p: load_schedule(p, workload, arch), path)
    path.write_text(re.sub(r"chunk: \d+", f"chunk: {10 ** 30}", good, count=1))
    assert "gemms[0].chunk: layer conv1 FF: expected an integer >= 1" in _error(lambda p: load_schedule(p, workload, arch), path)


def test_operator_elements_beyond_the_iteration_limit(tmp_path):
    folder = _trace(tmp_path)
    path = folder / "ops.csv"
    lines = path.read_text().splitlines()
    name, kind, after, *_ = lines[1].split(",")
    path.write_text("\n".join([lines[0], f"{name},relu,{after},{1 << 36},{1 << 36},0,{1 << 20}"]) + "\n")
    workload = load_workload(folder)
    with pytest.raises(InputError, match="operator elements; the model's stated limit is 2"):
        simulate(load_arch(SAT), workload)
    path.write_text("\n".join([lines[0], f"{name},relu,{after},{1 << 40},1,0,1"]) + "\n")
    assert "line 2, column elements: expected at most 68,719,476,736" in _error(load_workload, folder)


# --- capacity --------------------------------------------------------------------------------

def test_capacity_error_names_the_buffer_and_sizes(tmp_path):
    data = yaml.safe_load(SAT.read_text())
    for buffer in data["buffers"]:
        buffer["size_kib"] = 0.05            # 51 B, 25 usable
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CapacityError) as info:
        simulate(load_arch(path), load_workload(DIGITS))
    message = str(info.value)
    assert "no mapping fits SAT's buffers" in message and "25 B usable" in message
    assert "B of weight_buffer (weight)" in message and "size_kib" in message


def test_the_command_prints_one_line_and_exits_2(tmp_path, capsys):
    from sparseloom.apps.simulate import main

    bad = _sat_with(tmp_path, "clock_mhz: 200", "clock_mhz: 200\nclock_mhz: 1:30")
    for args in ([str(bad), str(DIGITS)], ["/dev/zero", str(DIGITS)], [str(SAT), str(DIGITS), "--batch", str(10 ** 12)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("simulate: error: ") and err.count("\n") == 1, err
