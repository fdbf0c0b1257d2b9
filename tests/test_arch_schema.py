"""The architecture loader: presets load, and every class of bad input gets a clear error."""
from __future__ import annotations

import re

import pytest

from sparseloom.arch.schema import NMPattern, load_arch
from sparseloom.core.errors import InputError

from .conftest import DENSE, SAT


def test_presets_load():
    sat, dense = load_arch(SAT), load_arch(DENSE)
    assert (sat.array.rows, sat.array.cols) == (32, 32)
    assert set(sat.array.dataflows) == {"weight_stationary", "output_stationary"}
    assert NMPattern(2, 8) in sat.sparsity.patterns
    assert sat.pruning_unit.lanes == 32                       # stated in the paper
    assert sat.dram.bandwidth_gbyte_s == pytest.approx(4 * 19.2)
    assert dense.array.dataflows == ["weight_stationary"]
    assert [p.dense for p in dense.sparsity.patterns] == [True]


def test_sat_preset_marks_every_unstated_number():
    # every parameter line says where its value comes from (stated, estimate, or why)
    for line in SAT.read_text().splitlines():
        if re.match(r"^\s*-?\s*[a-z_]+: [-0-9\[\"tf]", line):
            assert "#" in line, f"unmarked parameter in sat.yaml: {line!r}"


def _error(write_yaml, data) -> str:
    path = write_yaml(data)
    with pytest.raises(InputError) as info:
        load_arch(path)
    message = str(info.value)
    assert message.startswith(str(path)), message          # names the file
    return message


def test_unknown_key(write_yaml, sat_data):
    sat_data["array"]["colums"] = 32
    message = _error(write_yaml, sat_data)
    assert "array.colums" in message and "unknown key" in message and "cols" in message


def test_missing_key(write_yaml, sat_data):
    del sat_data["dram"]["burst_bytes"]
    message = _error(write_yaml, sat_data)
    assert "dram.burst_bytes" in message and "missing key" in message and "an integer" in message


def test_wrong_type(write_yaml, sat_data):
    sat_data["array"]["rows"] = "32"
    message = _error(write_yaml, sat_data)
    assert "array.rows" in message and "expected an integer" in message


def test_bool_is_not_an_integer(write_yaml, sat_data):
    sat_data["pruning_unit"]["lanes"] = True
    assert "pruning_unit.lanes" in _error(write_yaml, sat_data)


def test_impossible_value(write_yaml, sat_data):
    sat_data["clock_mhz"] = -200
    message = _error(write_yaml, sat_data)
    assert "clock_mhz" in message and "from 1 to 10,000 MHz" in message


def test_impossible_value_in_a_list(write_yaml, sat_data):
    sat_data["buffers"][1]["width_bits"] = 12
    message = _error(write_yaml, sat_data)
    assert "buffers[1].width_bits" in message and "multiple of 8" in message


def test_bad_choice(write_yaml, sat_data):
    sat_data["array"]["dataflows"] = ["row_stationary"]
    message = _error(write_yaml, sat_data)
    assert "array.dataflows[0]" in message and "weight_stationary" in message


def test_pattern_wider_than_the_multiplexer(write_yaml, sat_data):
    sat_data["sparsity"]["nm_patterns"].append("1:16")
    message = _error(write_yaml, sat_data)
    assert "sparsity.nm_patterns[5]" in message and "max_m" in message


def test_malformed_pattern(write_yaml, sat_data):
    sat_data["sparsity"]["nm_patterns"][1] = "2-4"
    assert "'N:M'" in _error(write_yaml, sat_data)


def test_too_few_index_bits(write_yaml, sat_data):
    sat_data["sparsity"]["index_bits_per_nonzero"] = 2
    message = _error(write_yaml, sat_data)
    assert "sparsity.index_bits_per_nonzero" in message and "3 bits" in message


def test_operand_without_a_buffer(write_yaml, sat_data):
    sat_data["buffers"][2]["holds"] = ["weight"]
    message = _error(write_yaml, sat_data)
    assert "buffers" in message and "'weight', found 2" in message


def test_not_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("array: [rows: 3\n")
    with pytest.raises(InputError, match="broken.yaml: line .*not valid YAML"):
        load_arch(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nothere.yaml: file not found"):
        load_arch(tmp_path / "nothere.yaml")


@pytest.mark.parametrize("text, n, m", [("2:8", 2, 8), ("dense", 1, 1), ("4:4", 4, 4), ("1:32", 1, 32)])
def test_pattern_parse(text, n, m):
    assert NMPattern.parse(text) == NMPattern(n, m)


@pytest.mark.parametrize("hw, tensor, ok", [
    ("2:4", "2:8", True),    # every 4-window of a 2:8 group keeps at most 2
    ("2:8", "1:8", True),
    ("2:4", "1:8", True),
    ("1:4", "2:8", False),   # a 4-window may hold both kept weights
    ("2:8", "2:4", False),   # an 8-window may hold 4
    ("dense", "1:32", True),
])
def test_pattern_containment(hw, tensor, ok):
    assert NMPattern.parse(hw).satisfied_by(NMPattern.parse(tensor)) is ok


def test_pattern_containment_by_brute_force():
    # every `tensor`-sparse tensor over one period of both groupings (built group by group),
    # checked against `hw` directly; periods up to 12 keep it to a few thousand tensors a pair
    import itertools
    import math

    patterns = [NMPattern(n, m) for m in (1, 2, 3, 4, 6, 8) for n in range(1, m + 1)]
    for hw in patterns:
        for tensor in patterns:
            period = math.lcm(hw.m, tensor.m)
            if period > 12:
                continue
            groups = [bits for bits in itertools.product((0, 1), repeat=tensor.m) if sum(bits) <= tensor.n]
            holds = not any(any(sum(t[g:g + hw.m]) > hw.n for g in range(0, period, hw.m))
                            for parts in itertools.product(groups, repeat=period // tensor.m)
                            for t in [sum(parts, ())])
            assert hw.satisfied_by(tensor) is holds, (hw, tensor)
