"""Write files atomically: a reader never sees a half-written output."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    write_bytes(path, text.encode())


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MIN_FREE_BYTES = 1 << 20    # an output location needs at least this much free space before work starts


def check_output(path: str | Path, option: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output the command could not write: ``path`` (a file, or a
    folder when ``folder``) must not be the other kind, its nearest existing ancestor must be a
    writable folder, and that file system needs MIN_FREE_BYTES free. Names ``option`` and the path."""
    from .errors import InputError

    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise InputError(option, str(path), "expected a folder to write into, found a file")
        if not folder and not path.is_file():
            raise InputError(option, str(path), "expected a regular file path to write, found "
                                                + ("a folder" if path.is_dir() else "a device or special file"))
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(option, str(path), f"cannot write under {parent}: it is a file, not a folder")
    try:                                   # a probe: permissions, read-only mounts and root alike
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(option, str(path), f"cannot write under {parent}: {exc.strerror}") from None
    free = shutil.disk_usage(parent).free
    if free < MIN_FREE_BYTES:
        raise InputError(option, str(path), f"only {free:,} bytes free on {parent}'s file system "
                                            f"(at least {MIN_FREE_BYTES:,} needed)")
    return path
