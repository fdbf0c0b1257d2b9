"""CPU seconds of start-up: the interpreter, numpy, ``import sparseloom``, the main job's whole
command, and its first load of the arch and the trace; prints medians and paired ratios.

    python benchmarks/bench_startup.py [--runs N] [--baseline SRC]

Every figure is the median over ``--runs`` fresh interpreters of the child's own user + system
CPU time (``os.wait4``), so it means the same on a loaded machine as on a quiet one. The whole
command is ``simulate arch/sat.yaml workloads/resnet50_2of8`` (through ``apps.simulate.main``);
``load_arch`` and ``load_workload`` are the first call of each in a fresh interpreter, timed
in-process with ``time.process_time`` once their modules are imported.

Python compiles every module it imports whose bytecode is not cached: pip caches it when it installs
a wheel, a source tree caches it on first import unless ``PYTHONDONTWRITEBYTECODE`` is set (as on the
project's machines). The whole command is timed as the environment has it, and again with the
bytecode cached (``PYTHONPYCACHEPREFIX``, a temporary folder filled by one unmeasured run), as an
installed ``simulate`` runs.

A trace's mask check, once passed, is kept (:mod:`sparseloom.core.verdicts`), so a repeated
command does not read the masks: the cases marked "check kept" use a temporary folder for the
kept checks, filled by one unmeasured run, the others keep none (``SPARSELOOM_CACHE=``): what a
trace's first run costs.

``--baseline SRC`` runs the same children, in turn with this tree's, against another checkout of
sparseloom (e.g. ``git worktree add /tmp/base <commit>``; SRC is its root, with the package folders
``api``, ``core``, ...), with this interpreter and this tree's input files: the ratio is this tree's
CPU seconds over the baseline's, pair by pair, and ``same output`` says whether the command printed
the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from checkout import shim

ROOT = Path(__file__).resolve().parent.parent
JOB = ["arch/sat.yaml", "workloads/resnet50_2of8"]
SHIM = "import sys; sys.path.insert(0, {shim!r}); "
SIMULATE = "from sparseloom.apps.simulate import main; sys.exit(main(sys.argv[1:]))"
CASES = {   # name -> (python -c code, whether it runs a checkout of sparseloom)
    "python -c pass": ("pass", False),
    "import numpy": ("import numpy", False),
    "import numpy (one BLAS thread)": (   # as the commands import it (sparseloom.apps)
        "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); import numpy", False),
    "import sparseloom": ("import sparseloom", True),
    "simulate (whole command)": (SIMULATE, True),
    "simulate (bytecode cached)": (SIMULATE, True),
    "simulate (whole command, check kept)": (SIMULATE, True),
    "simulate (bytecode cached, check kept)": (SIMULATE, True),
    "load_arch (first call)": (
        "import time, json; from pathlib import Path; from sparseloom.arch.schema import load_arch; "
        "t = time.process_time(); load_arch(Path(sys.argv[1])); print(json.dumps(time.process_time() - t))", True),
    "load_workload (first call)": (
        "import time, json; from pathlib import Path; from sparseloom.workloads.trace import load_workload; "
        "t = time.process_time(); load_workload(Path(sys.argv[2])); print(json.dumps(time.process_time() - t))", True),
}
IN_PROCESS = {"load_arch (first call)", "load_workload (first call)"}
CACHED = {"simulate (bytecode cached)", "simulate (bytecode cached, check kept)"}
KEPT = {"simulate (whole command, check kept)", "simulate (bytecode cached, check kept)"}


def run(code: str, top: Path | None, cache: Path | None = None, kept: Path | None = None) -> tuple[float, bytes]:
    """The child's CPU seconds (user + system) and its stdout; with ``cache``, Python's bytecode
    cache is that folder (written there, read from it); with ``kept``, passed checks are kept
    there, else none are."""
    script = (SHIM.format(shim=str(top)) if top else "import sys; ") + code
    env = dict(os.environ, SPARSELOOM_CACHE=str(kept) if kept else "")
    if cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen([sys.executable, "-c", script, *JOB], cwd=ROOT, stdout=out, stderr=subprocess.PIPE,
                                 env=env)
        error = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"{code!r} failed ({child.returncode}): {error.decode()[-2000:]}")
        out.seek(0)
        return usage.ru_utime + usage.ru_stime, out.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="root of another sparseloom checkout to compare with")
    args = parser.parse_args()
    this = shim(ROOT)
    base = shim(args.baseline.resolve()) if args.baseline else None
    cache = Path(tempfile.mkdtemp(prefix="sparseloom_pycache_"))
    try:
        measure(args.runs, this, base, cache)
    finally:
        for top in (this, base, cache):
            if top:
                shutil.rmtree(top)


def measure(runs: int, this: Path, base: Path | None, cache: Path) -> None:
    print(f"CPU seconds (user + sys of a fresh interpreter, or in-process where marked), median of {runs}"
          + ("; paired with a baseline checkout" if base else ""))
    for case, (code, ours) in CASES.items():
        seconds, ratios, same = [], [], True
        cached = cache if case in CACHED else None
        kept = cache / "kept" if case in KEPT else None
        if cached or kept:          # fill the caches: one unmeasured run of each tree
            for top in (this, base):
                if top:
                    run(code, top, cached, kept)
        for _ in range(runs):
            cpu, out = run(code, this if ours else None, cached, kept)
            seconds.append(json.loads(out) if case in IN_PROCESS else cpu)
            if base and ours:
                base_cpu, base_out = run(code, base, cached, kept)
                ratios.append(seconds[-1] / (json.loads(base_out) if case in IN_PROCESS else base_cpu))
                same = same and (case in IN_PROCESS or hashlib.sha256(out).digest() == hashlib.sha256(base_out).digest())
        line = f"{case:>38}: median {statistics.median(seconds):7.4f} s"
        if ratios:
            line += f" | / baseline median {statistics.median(ratios):6.3f}"
            if case not in IN_PROCESS:
                line += f" (same output: {same})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
