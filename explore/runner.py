"""Run a sweep: points go to local worker processes (or a Dask cluster) in chunks; each result
row is appended to the results CSV as it arrives, so an interrupted sweep resumes without redoing
a finished point (a half-written last line is dropped first).

A person can stop it and trust it:

- Ctrl-C (or SIGTERM) cancels the queued points, ends the workers, keeps every finished row and
  raises :class:`Interrupted`; workers end by themselves within a second when the sweep's process
  is killed outright.
- A row is reused only when its key, the fingerprint of everything that determines it
  (:mod:`.points`), matches; rows of other inputs in the file are refused with what changed.
- The results file is locked against a second sweep writing it.
- When every point is done the file is rewritten in point order, so the same sweep gives the
  same bytes; wall-clock seconds per point go to a separate file only when asked for.
- At most :data:`MAX_WORKERS` local processes; a Dask cluster without workers for
  :data:`NO_WORKER_TIMEOUT` seconds stops the sweep.
"""
from __future__ import annotations

import csv
import functools
import io
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..core.atomic import check_output, write_text
from ..core.errors import InputError
from .evaluate import evaluate_many, preload
from .points import SWITCHES, Point, design_points
from .spec import SweepSpec

MAX_WORKERS = 256            # local worker processes; the stated limit
NO_WORKER_TIMEOUT = 60.0     # seconds a Dask cluster may have no workers before the sweep stops
PROVENANCE = ["fidelity", *SWITCHES, "version", "arch_sha256", "trace_sha256"]
CHANGED = {"fidelity": "the fidelity", "version": "the sparseloom version", "trace_sha256": "the trace folder's files",
           "arch_sha256": "the arch (the base arch file or a fixed value)",
           **{s: f"dataflow_options.{s}" for s in SWITCHES}}

try:
    import fcntl
except ImportError:          # not on Windows: the file is not locked there
    fcntl = None


class Interrupted(KeyboardInterrupt):
    """The sweep was stopped (Ctrl-C or SIGTERM); the message says what was kept."""


def columns(spec: SweepSpec) -> list[str]:
    return ["key", "workload", *spec.parameters, "status", "error", *spec.metrics, *PROVENANCE]


def _read_rows(path: Path, header: list[str]) -> list[dict]:
    """The rows already in the results file; checks its header and drops a half-written last line."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    text = path.read_text()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        with open(path, "r+") as f:
            f.truncate(len(text.encode()))
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] != header:
        raise InputError(path, "header", f"results of another sweep or an older sparseloom (columns {rows[0]}); "
                                         f"expected {header}: choose another -o, or --fresh to replace it")
    return [dict(zip(header, row)) for row in rows[1:] if row]


def _refuse_stale(path: Path, rows: list[dict], points: list[Point], spec: SweepSpec) -> None:
    """Rows whose key no point of this spec has were made from other inputs: say which differ."""
    keys = {p.key for p in points}
    stale = [r for r in rows if r["key"] not in keys]
    if not stale:
        return
    current = {(p.workload.name, *(str(v) for _, v in p.params)): p for p in points}
    changed = set()
    for row in stale:
        point = current.get((row["workload"], *(row[n] for n in spec.parameters)))
        if point is None:
            changed.add("parameter values or workloads")
            continue
        now = {k: str(v) for k, v in point.provenance(spec).items()}
        differ = [k for k in PROVENANCE if row[k] != now[k]]
        changed |= {CHANGED[k] + (f" ({row[k]} then, {now[k]} now)" if k in ("fidelity", "version") else "")
                    for k in differ}
        if not differ:
            changed.add("the fixed workload values")
    raise InputError(path, "", f"{len(stale)} of its {len(rows)} rows were made from other inputs "
                               f"(changed: {'; '.join(sorted(changed))}), so they cannot be reused; "
                               "choose another -o, or --fresh to replace the file")


def run_sweep(spec: SweepSpec, out: Path, workers: int | None = None, scheduler=None, progress: bool = True,
              fresh: bool = False, timing: Path | None = None) -> dict:
    """Run every point not yet in ``out``; returns counts of points run, skipped and failed.
    ``fresh`` replaces an existing results file; ``timing`` appends (key, seconds) rows there."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InputError("--workers", "", f"expected 1 to {MAX_WORKERS} worker processes, got {workers}")
    check_output(out, "-o")
    if timing:
        check_output(timing, "--timing")
    header = columns(spec)
    points = design_points(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a+", newline="") as f:
        _lock(f, out)
        if fresh:
            f.truncate(0)
        rows = _read_rows(out, header)
        _refuse_stale(out, rows, points, spec)
        done = {r["key"] for r in rows}
        todo = [p for p in points if p.key not in done]
        if not rows:
            f.seek(0)
            f.truncate(0)
        counts = {"points": len(points), "run": 0, "skipped": len(points) - len(todo), "failed": 0}
        writer = csv.DictWriter(f, header, extrasaction="ignore", lineterminator="\n")
        if not rows:
            writer.writeheader()
        bar = _bar(len(points), counts["skipped"]) if progress else None
        by_key = {p.key: p for p in todo}
        chunks = _results(spec, todo, workers, scheduler)
        try:
            with _stop_on_sigterm():
                for results in chunks:
                    for row in results:
                        seconds = row.pop("seconds")
                        writer.writerow({**row, **by_key[row["key"]].provenance(spec)})
                        counts["run"] += 1        # per row: an interrupt between two rows counts what is written
                        counts["failed"] += row["status"] != "ok"
                        if timing:
                            _append(timing, ["key", "seconds"], [row["key"], seconds])
                    f.flush()
                    os.fsync(f.fileno())
                    if bar:
                        bar.update(len(results))
        except KeyboardInterrupt:
            kept = counts["skipped"] + counts["run"]
            raise Interrupted(f"{kept} of {len(points)} points are in {out} ({counts['run']} new); "
                              "the same command resumes the rest") from None
        finally:
            chunks.close()
            if bar:
                bar.close()
        _in_point_order(out, header, points)
    return counts


def _lock(f, path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise InputError(path, "", "another sweep is writing this results file (it is locked): wait for it "
                                   "or choose another -o") from None


def _in_point_order(out: Path, header: list[str], points: list[Point]) -> None:
    """Rewrite the finished results in point order, one row per key: the same bytes every run."""
    rows = {r["key"]: r for r in _read_rows(out, header)}
    text = io.StringIO()
    writer = csv.DictWriter(text, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[p.key] for p in points if p.key in rows)
    write_text(out, text.getvalue())


def _append(path: Path, header: list[str], row: list) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new:
            writer.writerow(header)
        writer.writerow(row)


def _bar(total: int, done: int):
    """A progress bar on stderr when it is a terminal (nothing in logs)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="point", disable=None, dynamic_ncols=True)


class _stop_on_sigterm:
    """SIGTERM ends the sweep as Ctrl-C does (finished rows kept, workers ended)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _in_grid_order(spec: SweepSpec, points: list[Point]) -> list[Point]:
    """The points in the order of the grid (its first parameter outermost): points of a random
    sample that share the inputs of some simulation stages (:mod:`~sparseloom.core.reuse`) run one
    after another. The results file is written in point order whatever the order run."""
    axes = list(spec.parameters.values())
    return sorted(points, key=lambda p: (str(p.workload), [axis.index(v) for axis, (_, v) in zip(axes, p.params)]))


def _chunks(points: list[Point], workers: int) -> list[list[Point]]:
    size = max(1, min(32, len(points) // (workers * 8) or 1))
    return [points[i:i + size] for i in range(0, len(points), size)]


def _results(spec: SweepSpec, points: list[Point], workers: int | None, scheduler):
    """Yield lists of result rows as chunks finish."""
    if not points:
        return
    if scheduler:
        yield from _dask_results(spec, points, scheduler)
        return
    points = _in_grid_order(spec, points)
    workers = min(workers or os.cpu_count() or 1, MAX_WORKERS)
    if workers == 1:
        for chunk in _chunks(points, 1):
            yield evaluate_many(spec, chunk)
        return
    chunks = _chunks(points, workers)
    preload(spec, points)        # before the workers start, so a forked worker starts with them
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), initializer=_worker_start,
                               initargs=(os.getpid(),))
    try:
        futures = [pool.submit(evaluate_many, spec, chunk) for chunk in chunks]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for child in set(multiprocessing.active_children()) - others:   # the running chunks: not kept
            child.terminate()
        raise
    pool.shutdown()


def _worker_start(parent: int) -> None:
    """In each worker: Ctrl-C is the sweep's to handle, SIGTERM (the sweep ending its running
    chunks) ends the worker at once (a forked worker would inherit :class:`_stop_on_sigterm`'s
    handler and print a KeyboardInterrupt's traceback), and the worker ends when the sweep's
    process does."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _dask_results(spec: SweepSpec, points: list[Point], scheduler):
    try:
        from dask.distributed import Client, wait
    except ImportError:
        raise InputError("--scheduler", "", "needs Dask: pip install 'sparseloom[dask]'") from None
    if hasattr(scheduler, "submit"):
        client = scheduler
    else:
        try:
            client = Client(scheduler, timeout=10)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InputError("--scheduler", str(scheduler), f"cannot reach a Dask scheduler there within 10 s "
                                                            f"({type(exc).__name__}: {exc})") from None
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    run = functools.partial(evaluate_many, spec)
    pending = {client.submit(run, chunk, pure=False) for chunk in _chunks(points, workers)}
    alone_since = None
    try:
        while pending:
            try:
                finished, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = set()
            for future in finished:
                yield future.result()
            if client.scheduler_info().get("workers"):
                alone_since = None
            elif not finished:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > NO_WORKER_TIMEOUT:
                    raise InputError("--scheduler", str(getattr(client, "scheduler", scheduler)),
                                     f"the cluster has had no workers for {NO_WORKER_TIMEOUT:g} s: sweep stopped "
                                     "(finished rows are kept; rerun to resume)")
    finally:
        if pending:
            client.cancel(list(pending))
