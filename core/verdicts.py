"""Checks that passed, kept between runs: a folder of empty files named by a digest of everything
that decides the check (the checked bytes, the rules it applied and the code that applied them),
so an input checked once is not checked again while none of that changes.

The folder is ``$SPARSELOOM_CACHE`` (an empty value keeps nothing), else
``$XDG_CACHE_HOME/sparseloom``, else ``~/.cache/sparseloom``. Only passes are kept, and a
folder that cannot be written only costs the check again (three lines of path rules do not
warrant the platformdirs dependency)."""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from .version import VERSION


def folder() -> Path | None:
    """Where verdicts are kept, or None when ``SPARSELOOM_CACHE`` is set empty."""
    chosen = os.environ.get("SPARSELOOM_CACHE")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sparseloom"


@functools.lru_cache(maxsize=None)
def code_digest(*sources: str) -> str:
    """SHA-256 of the project version and the bytes of the named source files (the code a
    verdict depends on: a change to any of them makes every verdict it gave unknown)."""
    digest = hashlib.sha256(VERSION.encode())
    for source in sources:
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def _entry(check: str, key: str) -> Path | None:
    place = folder()
    return place / "passed" / check / hashlib.sha256(key.encode()).hexdigest() if place else None


def passed(check: str, key: str) -> bool:
    """Whether ``check`` passed before on inputs whose digest is ``key``."""
    entry = _entry(check, key)
    return entry is not None and entry.is_file()


def remember(check: str, key: str) -> None:
    """Keep that ``check`` passed on ``key`` (nothing happens where the folder cannot be written)."""
    entry = _entry(check, key)
    if entry is None:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.touch()
    except OSError:
        pass
