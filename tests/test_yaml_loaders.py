"""The libyaml path of ``parse_yaml`` against the pure-Python reference loader: over the bundled
YAML files, hand-written hard cases and random mutations of them, both take the same documents
to the same values and refuse the same ones with the same words; and the bundled files really
are read by libyaml (not all sent back to the reference)."""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseloom.core import input_files
from sparseloom.core.errors import InputError
from sparseloom.core.input_files import FAST_DEPTH, MAX_ALIASES, load_reference, parse_yaml

from .conftest import ROOT

needs_libyaml = pytest.mark.skipif(input_files.FastLoader is None, reason="PyYAML built without libyaml")
BUNDLED = sorted([*ROOT.glob("arch/*.yaml"), *ROOT.glob("arch/technology/*.yaml"), *ROOT.glob("sweeps/*.yaml"),
                  *ROOT.glob("workloads/*/workload.yaml")])
HARD = [
    "a: 1\na: 2\n", "a: {b: 1, b: 2}\n", "? [1, 2]\n: x\n", "{[1]: 2}\n", "a: yes\nb: on\nc: 1:30\nd: 1_000\ne: 0o17\n",
    "f: 0x1F\ng: .inf\nh: -.Inf\ni: .nan\nj: ~\nk: Null\nl: 1e3\nm: 1.\nn: .5\no: +1\np: 0b101\n",
    "x: &x 1\ny: [" + ", ".join(["*x"] * MAX_ALIASES) + "]\n",
    "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n",
    "a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7)),
    "a: *nothere\n", "a: &r [*r]\n", "--- 1\n--- 2\n", "", "# only a comment\n", "---\n...\n",
    "a:\n\tb: 1\n", "a: 'x\n", "a: \"\\u00e9\\x41\"\n", "a: b: c\n", "- a\nb: 1\n", "a: |\n  x\n  y\n", "a: >-\n  x\n\n  y\n",
    "a: \ufeffx\n", "a: \x85\n", "k" * 1100 + ": 1\n", "a: " + "1" * 5000 + "\n", "a: " + "9" * 400 + ".5\n",
    "!!python/object:os.system x\n", "a: !!str 1\nb: !!int '2'\nc: !!float 3\n", "a: !custom 1\n", "%YAML 1.1\n---\na: 1\n",
    "[" * FAST_DEPTH + "]" * FAST_DEPTH, "[" * (FAST_DEPTH + 1) + "]" * (FAST_DEPTH + 1), "[" * 400 + "]" * 400,
    "".join(f"{'  ' * i}k{i}:\n" for i in range(FAST_DEPTH + 3)) + "  " * (FAST_DEPTH + 3) + "v\n",
    "a: [1, 2,]\n", "{a: 1, }\n", "a: 1\n  b: 2\n", "- - - x\n", "? a\n", "a: b #c\nd: 'e # f'\n",
]


def outcome(load, text: str):
    """What a loader makes of ``text``: ("value", a comparable form) or ("error", the message)."""
    try:
        return "value", _comparable(load(text, "test.yaml"))
    except InputError as exc:
        return "error", str(exc)


def _comparable(value, inside: frozenset = frozenset()):
    if isinstance(value, float) and math.isnan(value):
        return "nan"                  # nan != nan; both loaders give a float nan here
    if isinstance(value, (dict, list)):
        if id(value) in inside:       # an alias to an enclosing node (``&r [*r]``)
            return "recursive"
        inside = inside | {id(value)}
        if isinstance(value, dict):
            return [("dict", _comparable(k, inside), _comparable(v, inside)) for k, v in value.items()]
        return ["list", *(_comparable(v, inside) for v in value)]
    return type(value).__name__, value


@needs_libyaml
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_bundled_files_are_read_by_libyaml_to_the_same_values(path):
    text = path.read_text()
    fast = yaml.load(text, Loader=input_files.FastLoader)   # noqa: S506 - the strict rules
    assert _comparable(fast) == outcome(load_reference, text)[1]


@needs_libyaml
@pytest.mark.parametrize("text", HARD)
def test_hard_cases_agree(text):
    assert outcome(parse_yaml, text) == outcome(load_reference, text)


_PIECES = st.sampled_from(["\n", " ", "  ", "\t", ":", ": ", "- ", "-", "[", "]", "{", "}", ",", "&a ", "*a", "&b ", "*b",
                           "'", '"', "#", "?", "!", "!!str ", "|", ">", "---", "...", "%", "\\", "yes", "1:30", "0x", "1e3",
                           ".inf", "~", "null", "a", "b", "é", "\ufeff", "\x85", "\x00", "\u2028", "1_0"])


@st.composite
def mutated(draw):
    base = draw(st.sampled_from([p.read_text() for p in BUNDLED[:6]] + HARD))
    text = base
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(_PIECES) * draw(st.integers(0, 2)) + text[at + cut:]
    return text


@needs_libyaml
@settings(max_examples=int(os.environ.get('YAML_FUZZ_EXAMPLES', 400)), deadline=None)
@given(st.one_of(mutated(), st.lists(_PIECES, max_size=40).map("".join)))
def test_random_mutations_agree(text):
    assert outcome(parse_yaml, text) == outcome(load_reference, text)


def test_without_libyaml_the_reference_reads(monkeypatch):
    monkeypatch.setattr(input_files, "FastLoader", None)
    for text in HARD[:8]:
        assert outcome(parse_yaml, text) == outcome(load_reference, text)
    assert parse_yaml(BUNDLED[0].read_text(), BUNDLED[0]) == load_reference(BUNDLED[0].read_text(), BUNDLED[0])


def test_an_integer_too_long_to_read_is_refused_by_line():
    message = outcome(parse_yaml, "a: 1\nb: " + "1" * 5000 + "\n")[1]
    assert message == "test.yaml: line 2: not valid YAML (an integer of 5,000 digits, more than Python reads)"


@pytest.mark.parametrize("text, expected", [
    ("c: !!float 3-", "line 1: not valid YAML (float cannot be '3-')"),
    ("c: !!int x", "line 1: not valid YAML (int cannot be 'x')"),
    ("c: !!bool x", "line 1: not valid YAML (bool cannot be 'x')"),
    ("c: !!timestamp x", "line 1: not valid YAML (timestamp cannot be 'x')"),
    ("c: !!map [1]", "not valid YAML (a tagged value of the wrong kind"),
])
def test_a_tag_on_the_wrong_value_is_an_input_error(text, expected):
    assert expected in outcome(parse_yaml, text)[1]


def test_fast_loader_refers_over_budget_documents():
    if input_files.FastLoader is None:
        pytest.skip("PyYAML built without libyaml")
    for text in ("x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n",
                 "[" * (FAST_DEPTH + 1) + "]" * (FAST_DEPTH + 1)):
        with pytest.raises(yaml.YAMLError, match="the reference loader decides"):
            yaml.load(text, Loader=input_files.FastLoader)   # noqa: S506
    assert Path(input_files.__file__).name == "input_files.py"
