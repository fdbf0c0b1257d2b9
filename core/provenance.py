"""What a result was made from: the project version, content digests and the command line."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

from .version import VERSION   # stated in the source, so no package metadata is read


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "tolist"):            # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (Path, set, frozenset)):
        return sorted(map(str, value)) if isinstance(value, (set, frozenset)) else str(value)
    return str(value)


def digest(value) -> str:
    """SHA-256 (hex) of ``value``'s canonical JSON (dataclasses, numpy values and paths included)."""
    text = json.dumps(value, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


_DIGESTS: dict[tuple, str] = {}   # file_digest's results by device, inode, size, mtime and ctime
SETTLED_NS = 1_000_000_000        # a file last changed this long ago has its digest kept


def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, kept for the process (a trace's masks.npz is digested twice
    per result) once the file has not changed for :data:`SETTLED_NS`: any later change, even one
    that keeps its size and sets its mtime back, gives it a new ctime, and timestamps are only a
    clock tick fine, so a file changed just now is always read again."""
    info = os.stat(path)
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    h = hashlib.sha256()
    block = memoryview(bytearray(1 << 18))   # one buffer read into again (new blocks cost page faults)
    with open(path, "rb", buffering=0) as f:
        while size := f.readinto(block):
            h.update(block[:size])
    if time.time_ns() - info.st_ctime_ns > SETTLED_NS:
        _DIGESTS[key] = h.hexdigest()
    return h.hexdigest()


def command_line() -> str:
    """The command that is running, as a shell would take it back (``python -m MODULE`` for a module run)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = ["python", "-m", spec.name.removesuffix(".__main__")] if spec and spec.name else [Path(sys.argv[0]).name]
    return " ".join(shlex.quote(a) for a in [*program, *sys.argv[1:]])


def workload_digest(workload) -> str:
    """SHA-256 of a workload's resolved contents: its metadata (batch and pattern overrides
    included), layers and operators, and the bytes of its masks.npz when it has one."""
    masks = workload.path / "masks.npz" if workload.path else None
    masks_digest = file_digest(masks) if masks and masks.is_file() else None
    return digest([workload.meta, workload.layers, workload.ops, masks_digest])


def folder_digest(folder: Path) -> str:
    """SHA-256 over the names and bytes of a folder's files (a trace as it sits on disk)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f"{path.name}\0{file_digest(path)}\0".encode())
    return h.hexdigest()
