"""Mutation score of the model core (``sim/`` and ``dataflow/``): the share of sampled one-line
mutants (cosmic-ray's operators) that the fast model-core tests kill.

    pip install -e '.[mutation]'
    nice python benchmarks/mutation/score.py --sample 30 --seed 2

The tests each mutant runs are ``test-command`` in ``cosmic-ray.toml`` (the model-core test
files); a surviving mutant takes one full run of them (about 40 s of CPU), so a sample of 30
takes about half an hour on a quiet core.

cosmic-ray edits the mutated file in place, so this runs it in a scratch copy of the tree (the
work tree is never touched) with ``sparseloom`` imported from that copy. The unmutated copy must
pass the test command first. Mutants are sampled with a fixed seed from every mutant cosmic-ray
generates (``RemoveDecorator`` excluded: removing ``@dataclass`` breaks every import, trivially
killed). A mutant whose test run times out counts as killed (cosmic-ray's rule); one that makes
the module fail to import ("incompetent") is not counted. ``--rerun-survivors`` tests the
survivors of an existing session again (after tests were added), keeping the killed ones.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("cosmic-ray.toml")
PACKAGES = ["core", "arch", "workloads", "kernels", "dataflow", "sim", "reports", "rtl", "explore", "apps"]
EXCLUDED = ("core/RemoveDecorator",)


def scratch_copy(where: Path) -> dict:
    """Copy the tree to ``where`` and return the environment that imports sparseloom from it."""
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.pyc", "build", "mutants", ".hypothesis")
    shutil.copytree(ROOT, where, ignore=ignore, dirs_exist_ok=True)
    package = where / "_import" / "sparseloom"
    package.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        link = package / name
        if not link.exists():
            link.symlink_to(where / name, target_is_directory=True)
    env = dict(os.environ, PYTHONPATH=str(where / "_import"), PYTHONDONTWRITEBYTECODE="1")
    return env


def run(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, check=check, text=True, capture_output=True)


def sample(db_path: Path, size: int, seed: int) -> int:
    """Mark every mutant outside the seeded sample (and every excluded operator) skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(db_path), WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda w: tuple(
            (str(m.module_path), m.start_pos, m.operator_name, m.occurrence) for m in w.mutations))
        eligible = [w for w in items if not any(m.operator_name.startswith(EXCLUDED) for m in w.mutations)]
        chosen = {w.job_id for w in random.Random(seed).sample(eligible, min(size, len(eligible)))}
        skipped = [w.job_id for w in items if w.job_id not in chosen]
        db.set_multiple_results(skipped, WorkResult(output="not sampled", worker_outcome=WorkerOutcome.SKIPPED))
        return len(items)


def _survived(result) -> bool:
    return result.worker_outcome.value == "normal" and result.test_outcome is not None and result.test_outcome.value == "survived"


def rerun_survivors(db_path: Path) -> int:
    """Forget the results of the survivors, so ``exec`` tests them again."""
    import sqlite3

    from cosmic_ray.work_db import WorkDB, use_db

    with use_db(str(db_path), WorkDB.Mode.open) as db:
        survived = [job for job, result in db.results if _survived(result)]
    con = sqlite3.connect(db_path)
    con.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in survived])
    con.commit()
    con.close()
    return len(survived)


def report(db_path: Path) -> float:
    from cosmic_ray.work_db import WorkDB, use_db

    outcome: Counter = Counter()
    survivors = []
    with use_db(str(db_path), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome.value == "skipped":
                continue
            kind = result.test_outcome.value if result.worker_outcome.value == "normal" else result.worker_outcome.value
            outcome[kind] += 1
            if kind == "survived":
                m = item.mutations[0]
                survivors.append(f"  {m.module_path}:{m.start_pos[0]} {m.operator_name} #{m.occurrence}")
    killed = outcome["killed"]
    counted = killed + outcome["survived"]
    score = killed / counted if counted else float("nan")
    print("survivors:", *sorted(survivors), sep="\n")
    print(f"outcomes: {dict(outcome)}")
    print(f"mutation score of sim/ + dataflow/: {killed} of {counted} sampled mutants killed = {score:.1%}")
    return score


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", type=int, default=30, help="mutants to test (default 30)")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--session", type=Path, help="keep the session database here (default: a temporary folder)")
    p.add_argument("--rerun-survivors", action="store_true", help="test the survivors of --session again")
    p.add_argument("--report", action="store_true", help="only print the score of --session")
    args = p.parse_args(argv)
    if args.report:
        report(args.session.resolve())
        return 0
    work = Path(tempfile.mkdtemp(prefix="sparseloom-mutation-"))
    db = (args.session or work / "session.sqlite").resolve()
    env = scratch_copy(work / "tree")
    tree = work / "tree"
    baseline = run(["cosmic-ray", "baseline", str(CONFIG)], tree, env, check=False)
    if baseline.returncode:
        print(baseline.stdout[-3000:], baseline.stderr[-3000:], sep="\n")
        print("the unmutated tree fails the test command: no score", file=sys.stderr)
        return 1
    if args.rerun_survivors:
        print(f"re-testing {rerun_survivors(db)} survivors")
    else:
        if db.exists():
            db.unlink()
        run(["cosmic-ray", "init", str(CONFIG), str(db)], tree, env)
        total = sample(db, args.sample, args.seed)
        print(f"{total} mutants in sim/ + dataflow/; testing {min(args.sample, total)} (seed {args.seed})", flush=True)
    run(["cosmic-ray", "exec", str(CONFIG), str(db)], tree, env)
    report(db)
    shutil.rmtree(tree if db.is_relative_to(work) else work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
