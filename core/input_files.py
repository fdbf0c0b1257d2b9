"""The one way the tools read a user's file: size and type limits, UTF-8, and a strict YAML loader.

Every file is opened only if it is a regular file (not a directory, FIFO or device) no larger
than its cap, and text must be UTF-8; each failure is an :class:`InputError` naming the file.
YAML is read with the YAML 1.2 core schema (``yes``, ``on``, ``1:30`` and ``1_000`` stay
strings; only ``true``/``false`` are booleans), duplicate keys are refused, and a document may
use at most :data:`MAX_ALIASES` aliases and expand to at most :data:`MAX_NODES` values (an alias
bomb expands exponentially). libyaml parses where PyYAML has it and the text holds none of the
constructs the two parsers read differently; PyYAML's pure-Python parser is the reference, and
words every refusal (:func:`parse_yaml`).
"""
from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np
import yaml

from .errors import InputError

MIB = 1 << 20
YAML_CAP = 1 * MIB          # an arch, workload.yaml, sweep spec or schedule file
CSV_CAP = 16 * MIB          # layers.csv, ops.csv
MAX_ALIASES = 100           # YAML aliases per document
MAX_NODES = 1_000_000       # values of a YAML document with its aliases expanded
NPZ_CAP = 1024 * MIB        # masks.npz
NPZ_MEMBERS = 100_000


def read_bytes(path: str | Path, cap: int) -> bytes:
    """The contents of a regular file of at most ``cap`` bytes."""
    path = Path(path)
    check_file(path, cap)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(cap + 1)
    except OSError as exc:
        raise InputError(path, "", f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > cap:   # it grew while being read
        raise InputError(path, "", f"expected a file of at most {_size(cap)}")
    return data


def read_text(path: str | Path, cap: int) -> str:
    """A regular file's UTF-8 text (a byte-order mark is dropped)."""
    data = read_bytes(path, cap)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(path, f"line {line}", f"expected UTF-8 text, found byte 0x{data[exc.start]:02x}") from None
    if "\x00" in text:
        raise InputError(path, f"line {text[:text.index(chr(0))].count(chr(10)) + 1}", "expected text, found a NUL byte")
    return text


class StrictRules(yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    """The YAML 1.2 core schema and no duplicate keys, for either parser below."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key_node.value!r}",
                                                        key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError):   # an explicit tag on the wrong text: !!float x
            raise yaml.constructor.ConstructorError(None, None, f"{node.tag.rpartition(':')[2] or node.tag} cannot "
                                                                f"be {_short(node.value)}", node.start_mark) from None

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        try:
            if text.startswith(("0o", "+0o", "-0o")):
                return int(text.replace("0o", ""), 8)
            return int(text, 0) if text.lstrip("+-").startswith("0x") else int(text)
        except ValueError:
            if not text.lstrip("+-").isdigit():
                raise
            raise yaml.constructor.ConstructorError(None, None, f"an integer of {len(text):,} digits, more than Python "
                                                                "reads", node.start_mark) from None

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node).lower()
        if text.lstrip("+-") in (".inf",):
            return float(text.replace(".inf", "inf"))
        if text == ".nan":
            return float("nan")
        return float(text)


class StrictLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer, StrictRules):
    """PyYAML's pure-Python loader under the strict rules, counting aliases as it composes: the
    reference loader, whose words every refusal uses."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        StrictRules.__init__(self)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} aliases (a YAML alias bomb?)", event.start_mark)
        return super().compose_node(parent, index)

    def compose_document(self):
        node = super().compose_document()
        if node is not None and _tree(node)[1] > MAX_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"more than {MAX_NODES:,} values once its aliases are expanded (a YAML alias bomb?)",
                node.start_mark)
        return node


FAST_DEPTH = 32   # deeper documents go to the reference loader, whose recursion decides
# what the two parsers read differently: tabs, a byte-order mark after the first, NEL and the Unicode
# line separators, "?" (complex keys; libyaml 0.2.5 lets it inside a flow scalar), tags ("!"), anchors
# and aliases ("&", "*"), directives ("%" at a line's start) and a "|" or ">" not followed by at most
# a chomping indicator and a space (block-scalar headers: libyaml takes "|#"). A text holding any of
# them, even in a comment or a string, goes to the reference loader; the bundled files hold none.
REFERENCE_ONLY = re.compile(r"[\t\ufeff\x85\u2028\u2029?!&*]|^%|[|>](?![-+]?(?:\s|$))", re.M)


if yaml.__with_libyaml__:
    class FastLoader(yaml.cyaml.CParser, StrictRules):
        """libyaml's parser and composer (PyYAML's C extension) under the same rules. A document it
        takes must be one the reference loader takes the same way; anything else (a parse error, an
        alias or node budget exceeded, nesting deeper than :data:`FAST_DEPTH`, a duplicate key) makes
        :func:`parse_yaml` ask the reference loader, so errors read the same with or without libyaml."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            StrictRules.__init__(self)

        def get_single_node(self):
            node = super().get_single_node()
            if node is not None:
                aliases, values, depth = _tree(node)
                if aliases > MAX_ALIASES or values > MAX_NODES or depth > FAST_DEPTH:
                    raise yaml.YAMLError("over a budget: the reference loader decides")
            return node
else:
    FastLoader = None


def _tree(root) -> tuple[int, int, int]:
    """Aliases, values with every alias expanded (a shared node counted once per use) and depth
    of a composed document; a node met a second time is an alias."""
    sizes: dict[int, int] = {}
    uses = 0
    deepest = 0

    def size(node, depth: int) -> int:
        nonlocal uses, deepest
        uses += 1
        deepest = max(deepest, depth)
        if id(node) not in sizes:
            sizes[id(node)] = 1
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else []
            sizes[id(node)] = 1 + sum(size(c, depth + 1) for c in children)
        return sizes[id(node)]

    values = size(root, 1)
    return uses - len(sizes), values, deepest


# the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
for tag, pattern, first in (
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         list("-+.0123456789"))):
    StrictRules.add_implicit_resolver(tag, re.compile(pattern), first)
StrictRules.add_constructor("tag:yaml.org,2002:int", StrictRules.construct_yaml_int)
StrictRules.add_constructor("tag:yaml.org,2002:float", StrictRules.construct_yaml_float)


def parse_yaml(text: str, path: str | Path):
    """Parse YAML text strictly (see module docstring); errors name the file and line. libyaml
    parses when PyYAML has it (:class:`FastLoader`); the pure-Python :class:`StrictLoader` is the
    reference for every document the fast one does not take."""
    if FastLoader is not None and not REFERENCE_ONLY.search(text):
        try:
            return yaml.load(text, Loader=FastLoader)   # noqa: S506 - SafeConstructor rules
        except Exception:       # noqa: BLE001 - any refusal is worded by the reference loader
            pass
    return load_reference(text, path)


def load_reference(text: str, path: str | Path):
    """Parse YAML text with the pure-Python :class:`StrictLoader` (what :func:`parse_yaml` does
    without libyaml)."""
    try:
        return yaml.load(text, Loader=StrictLoader)   # noqa: S506 - SafeConstructor rules
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise InputError(path, where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise InputError(path, "", "not valid YAML (nested too deeply)") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:   # an explicit tag on the wrong node: !!map [1]
        raise InputError(path, "", f"not valid YAML (a tagged value of the wrong kind: {exc})") from None


def _short(value) -> str:
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def read_yaml_file(path: str | Path, cap: int = YAML_CAP):
    """Read and parse a YAML file under the limits above."""
    return parse_yaml(read_text(path, cap), path)


def read_npz(path: str | Path, member_bytes: int, dtypes: tuple[str, ...] = ("uint8", "int64"),
             cap: int = NPZ_CAP) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, read without pickles and zip-bomb safe: every member's
    uncompressed size (from the zip directory) and its npy header (dtype, shape) are checked
    against ``member_bytes`` and ``dtypes`` before a byte of it is decompressed, and no more
    than the header promises is ever read."""
    path = Path(path)
    check_file(path, cap)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > NPZ_MEMBERS:
                raise InputError(path, "", f"expected at most {NPZ_MEMBERS:,} arrays, found {len(members):,}")
            arrays = {}
            for info in members:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if info.file_size > member_bytes + 4096:
                    raise InputError(path, name, f"expected at most {member_bytes:,} B uncompressed, "
                                                 f"the archive states {info.file_size:,} B")
                with archive.open(info) as handle:
                    arrays[name] = _read_npy(handle, path, name, member_bytes, dtypes)
            return arrays
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(path, "", f"not a readable .npz archive ({type(exc).__name__}: {exc})") from None


def _read_npy(handle, path: Path, name: str, member_bytes: int, dtypes: tuple[str, ...]) -> np.ndarray:
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise InputError(path, name, f"expected an npy array of format 1.0 or 2.0, found {version}")
    header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = header(handle, max_header_size=10_000)
    if dtype.hasobject or dtype.name not in dtypes:
        raise InputError(path, name, f"expected an array of {' or '.join(dtypes)}, found {dtype} (no pickles are read)")
    count = 1
    for dim in shape:
        count *= int(dim)
    nbytes = count * dtype.itemsize
    if nbytes > member_bytes:
        raise InputError(path, name, f"expected at most {member_bytes:,} B, the header claims shape {shape}")
    data = handle.read(nbytes)
    if len(data) != nbytes:
        raise InputError(path, name, f"truncated: the header claims {nbytes:,} B, found {len(data):,}")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def check_file(path: Path, cap: int) -> None:
    """The checks of :func:`read_bytes` without reading the file (for readers that stream it)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(path, "", "file not found") from None
    except OSError as exc:
        raise InputError(path, "", f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "", "expected a regular file, found a directory" if stat.S_ISDIR(info.st_mode)
                         else "expected a regular file (not a FIFO, socket or device)")
    if info.st_size > cap:
        raise InputError(path, "", f"expected a file of at most {_size(cap)}, found {_size(info.st_size)}")


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n:,} B"
