"""A trace's mask check is kept once passed and skipped on the next load of the same bytes, and
only then: changed masks, changed layers, a failed check or a cache turned off check again."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sparseloom.arch.schema import NMPattern
from sparseloom.core import verdicts
from sparseloom.core.errors import InputError
from sparseloom.workloads import masks as masks_module
from sparseloom.workloads.layer import Layer
from sparseloom.workloads.masks import check_masks, masks_bytes
from sparseloom.workloads.trace import load_workload

from .conftest import ROOT, edit_file

DIGITS = ROOT / "workloads" / "digits_bdwp_2of8"     # 3 layers, N:M masks in both directions


@pytest.fixture
def trace(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SPARSELOOM_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "trace"
    shutil.copytree(DIGITS, folder)
    return folder


@pytest.fixture
def reads(monkeypatch) -> list:
    """The mask files the check reads (each call of its reader), counted."""
    seen = []
    real = masks_module._checked

    def counted(path, *args, **kwargs):
        seen.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(masks_module, "_checked", counted)
    return seen


def _entries(trace: Path) -> list[Path]:
    return sorted((trace.parent / "cache").rglob("*"))


def test_a_passed_check_is_kept_and_the_next_load_does_not_read_the_masks(trace, reads):
    load_workload(trace)
    assert reads == ["masks.npz"]
    assert [p.name for p in _entries(trace) if p.is_file()] and all(p.stat().st_size == 0 for p in _entries(trace)
                                                                   if p.is_file())
    load_workload(trace)
    assert reads == ["masks.npz"]                   # kept: not read again


def test_changed_masks_are_checked_again_and_refused(trace, reads):
    load_workload(trace)
    masks = load_workload(trace).masks()
    masks[("conv2", "fwd")] = np.ones_like(masks[("conv2", "fwd")])      # 8 of 8 kept in every group
    (trace / "masks.npz").write_bytes(masks_bytes(masks))
    with pytest.raises(InputError, match="conv2/fwd: 576 groups keep more than 2 of 8"):
        load_workload(trace)
    with pytest.raises(InputError):                 # a failure is never kept
        load_workload(trace)


def test_changed_layers_check_the_same_masks_again(trace):
    load_workload(trace)
    edit_file(trace / "layers.csv", "conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,2:8", "conv2,conv,16,32,3,3,1,1,8,8,1,1,2:8,dense")
    with pytest.raises(InputError, match="conv2/bwd: a mask for a direction layers.csv marks dense"):
        load_workload(trace)


def test_an_empty_setting_keeps_nothing(trace, reads, monkeypatch):
    monkeypatch.setenv("SPARSELOOM_CACHE", "")
    load_workload(trace)
    load_workload(trace)
    assert reads == ["masks.npz", "masks.npz"] and not (trace.parent / "cache").exists()


def test_a_folder_that_cannot_be_written_only_costs_the_check(trace, reads, monkeypatch):
    blocker = trace.parent / "not_a_folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("SPARSELOOM_CACHE", str(blocker))
    load_workload(trace)
    load_workload(trace)
    assert reads == ["masks.npz", "masks.npz"]


def test_the_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("SPARSELOOM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert verdicts.folder() == tmp_path / "sparseloom"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert verdicts.folder() == Path.home() / ".cache" / "sparseloom"


def test_the_code_digest_changes_with_the_code(tmp_path):
    source = tmp_path / "rules.py"
    source.write_text("LIMIT = 1\n")
    first = verdicts.code_digest(str(source))
    verdicts.code_digest.cache_clear()
    source.write_text("LIMIT = 2\n")
    assert verdicts.code_digest(str(source)) != first


def test_a_pass_as_unstructured_is_not_a_pass_as_nm(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSELOOM_CACHE", str(tmp_path / "cache"))
    layer = Layer(name="fc", kind="linear", C=16, K=8, R=1, S=1, stride=1, pad=0, H=1, W=1, groups=1, repeat=1,
                  fwd_nm=NMPattern(2, 8), bwd_nm=NMPattern(1, 1), input_grad=1)
    path = tmp_path / "masks.npz"
    path.write_bytes(masks_bytes({("fc", "fwd"): np.ones((8, 16, 1, 1), bool)}))     # any pattern: unstructured
    check_masks(path, [layer], unstructured=True)
    with pytest.raises(InputError, match="fc/fwd: 16 groups keep more than 2 of 8"):
        check_masks(path, [layer], unstructured=False)
