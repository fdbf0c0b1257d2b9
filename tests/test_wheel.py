"""The built wheel in a fresh virtual environment outside the checkout: the bundled preset and trace
by name, the list, a tiny sweep with its report and the SAT training report, each writing only
where it is told (or into the current folder), never into site-packages.

Fast by construction (well under a minute here): the wheel is built without build isolation (when
setuptools is importable; else pip builds it in isolation from its cache) and installed with
``--no-deps`` (pip 22.3 or later, for ``--python``); the fresh venv reaches the dependencies already installed beside
this interpreter through a path in a ``.pth`` file, not this checkout's (editable) sparseloom.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.wheel

SKIP = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache",
                              ".hypothesis", "results", "out")


def files(folder: Path) -> set[str]:
    """Every file under ``folder`` (bytecode and numba caches left out), relative."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _can_build_here() -> bool:
    """Whether this environment has the build backend pyproject asks for (setuptools >= 68 and wheel;
    a fresh venv's bundled setuptools is older)."""
    if importlib.util.find_spec("setuptools") is None or importlib.util.find_spec("wheel") is None:
        return False
    from importlib.metadata import version

    return int(version("setuptools").split(".")[0]) >= 68


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist, env = tmp / "source", tmp / "dist", tmp / "env"
    shutil.copytree(ROOT, source, ignore=SKIP)
    isolation = ["--no-build-isolation"] if _can_build_here() else []   # else pip builds in isolation (its cache)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", dist, source],
                   check=True, capture_output=True)
    wheel = next(dist.glob("sparseloom-*.whl"))
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
                   check=True, capture_output=True)
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def run(env: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["PATH"] = f"{env / 'bin'}{os.pathsep}{environment['PATH']}"
    return subprocess.run([str(env / "bin" / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=600)


def test_the_wheel_runs_by_name_outside_the_checkout(fresh_venv, tmp_path):
    site = Path(run(fresh_venv, tmp_path, "python", "-c", "import sparseloom, pathlib; "
                    "print(pathlib.Path(sparseloom.__file__).parent)").stdout.strip())
    assert fresh_venv in site.parents and ROOT not in site.parents       # the wheel's copy, not the checkout
    installed = files(site)
    assert {"py.typed", "arch/sat.yaml", "sweeps/sat_array.yaml", "workloads/resnet50_2of8/layers.csv"} <= installed

    main = run(fresh_venv, tmp_path, "simulate", "sat", "resnet50_2of8")
    assert main.returncode == 0, main.stderr
    assert main.stdout.startswith("arch      SAT") and "speedup" in main.stdout
    assert max(len(line) for line in main.stdout.splitlines()) <= 100
    readme = run(fresh_venv, tmp_path, "simulate", "arch/sat.yaml", "workloads/resnet50_2of8", "--quiet", "-o", "out")
    assert readme.returncode == 0 and readme.stdout == "" and (tmp_path / "out" / "summary.json").exists()
    listed = run(fresh_venv, tmp_path, "simulate", "--list").stdout
    assert "sat" in listed and "resnet50_2of8" in listed and "sat_array" in listed
    for command in ("simulate", "sweep", "trace", "rtlgen"):
        version = run(fresh_venv, tmp_path, command, "--version")
        assert version.returncode == 0 and version.stdout.strip() == f"{command} (sparseloom) 0.1.0"

    (tmp_path / "tiny.yaml").write_text(
        "name: tiny\nbase_arch: sat\nworkloads: [resnet9_2of8]\nparameters: {array.rows: [8, 16], dram.channels: [1, 2]}\n"
        "sampling: {method: grid}\nmetrics: [cycles, time_ms, energy_uj]\n")
    swept = run(fresh_venv, tmp_path, "sweep", "tiny.yaml", "-o", "tiny.csv", "--workers", "1", "--report", "report")
    assert swept.returncode == 0, swept.stderr
    assert "4 points; ran 4" in swept.stdout and swept.stderr == ""      # no progress frames off a terminal
    report = run(fresh_venv, tmp_path, "python", "-m", "sparseloom.apps.sat_training", "--fidelity", "analytic")
    assert report.returncode == 0, report.stderr

    assert files(site) == installed                                      # nothing written into the package
    made = files(tmp_path)
    assert {"tiny.csv", "report/tiny.md", "report/tiny.html", "reports/showcase/sat_training.md",
            "reports/showcase/sat_training.png"} <= made
    assert {m.split("/")[0] for m in made} == {"tiny.yaml", "tiny.csv", "out", "report", "reports"}
