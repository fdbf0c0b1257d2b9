"""File digests kept per process: never stale after a change, kept only for files that have settled."""
from __future__ import annotations

import hashlib
import os
import time

from sparseloom.core import provenance
from sparseloom.core.provenance import file_digest


def test_a_file_rewritten_at_once_in_place_is_read_again(tmp_path):
    path = tmp_path / "masks.npz"
    for content in (b"a" * 4096, b"b" * 4096, b"c" * 4096):     # same size and inode, within a clock tick
        path.write_bytes(content)
        assert file_digest(path) == hashlib.sha256(content).hexdigest()
    assert not any(key[1] == os.stat(path).st_ino for key in provenance._DIGESTS)   # just changed: not kept


def test_a_settled_file_is_kept_under_its_stamps(tmp_path, monkeypatch):
    path = tmp_path / "layers.csv"
    path.write_bytes(b"name,kind\n")
    info = os.stat(path)
    now = time.time_ns
    monkeypatch.setattr(provenance.time, "time_ns", lambda: now() + 2 * provenance.SETTLED_NS)   # 2 s on
    assert file_digest(path) == hashlib.sha256(b"name,kind\n").hexdigest()
    assert provenance._DIGESTS[(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)] == \
        hashlib.sha256(b"name,kind\n").hexdigest()
