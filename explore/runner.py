"""Run a sweep: points go to local worker processes (or a Dask cluster) in chunks; each result
row is appended to the results CSV as it arrives, so an interrupted sweep resumes without redoing
a finished point (a half-written last line is dropped first)."""
from __future__ import annotations

import csv
import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from ..core.errors import InputError
from .evaluate import evaluate_many
from .points import Point, design_points
from .spec import SweepSpec


def columns(spec: SweepSpec) -> list[str]:
    return ["key", "workload", *spec.parameters, "status", "error", "seconds", *spec.metrics]


def finished_keys(path: Path, header: list[str]) -> set[str]:
    """Keys already in the results file; checks its header and drops a half-written last line."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    text = path.read_text()
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        with open(path, "r+") as f:
            f.truncate(len(text.encode()))
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] != header:
        raise InputError(path, "header", f"results of another sweep (columns {rows[0]}); expected {header}: "
                                         "choose another -o or delete it")
    return {row[0] for row in rows[1:] if row}


class Progress:
    """Points done, rate and time left, on one line of stderr."""

    def __init__(self, total: int, done: int, stream=sys.stderr):
        self.total, self.done, self.start, self.new, self.stream = total, done, time.monotonic(), 0, stream

    def update(self, count: int) -> None:
        self.done += count
        self.new += count
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.new / elapsed
        left = (self.total - self.done) / rate if rate else float("inf")
        filled = int(30 * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} points, "
                          f"{rate * 60:,.0f}/min, {left:,.0f} s left ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def run_sweep(spec: SweepSpec, out: Path, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> dict:
    """Run every point not yet in ``out``; returns counts of points run, skipped and failed."""
    header = columns(spec)
    points = design_points(spec)
    done = finished_keys(out, header)
    todo = [p for p in points if p.key not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    bar = Progress(len(points), len(points) - len(todo)) if progress else None
    failed = 0
    with open(out, "a", newline="") as f:
        writer = csv.DictWriter(f, header, extrasaction="ignore", lineterminator="\n")
        if new_file:
            writer.writeheader()
        for rows in _results(spec, todo, workers, scheduler):
            for row in rows:
                writer.writerow(row)
                failed += row["status"] != "ok"
            f.flush()
            os.fsync(f.fileno())
            if bar:
                bar.update(len(rows))
    if bar:
        bar.close()
    return {"points": len(points), "run": len(todo), "skipped": len(points) - len(todo), "failed": failed}


def _chunks(points: list[Point], workers: int) -> list[list[Point]]:
    size = max(1, min(32, len(points) // (workers * 8) or 1))
    return [points[i:i + size] for i in range(0, len(points), size)]


def _results(spec: SweepSpec, points: list[Point], workers: int | None, scheduler: str | None):
    """Yield lists of result rows as chunks finish."""
    if not points:
        return
    if scheduler:
        yield from _dask_results(spec, points, scheduler)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for chunk in _chunks(points, 1):
            yield evaluate_many(spec, chunk)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(evaluate_many, spec, chunk) for chunk in _chunks(points, workers)]
        for future in as_completed(futures):
            yield future.result()


def _dask_results(spec: SweepSpec, points: list[Point], scheduler):
    try:
        from dask.distributed import Client, as_completed as dask_completed
    except ImportError:
        raise InputError("--scheduler", "", "needs Dask: pip install 'sparseloom[dask]'") from None

    client = scheduler if hasattr(scheduler, "submit") else Client(scheduler)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    futures = [client.submit(evaluate_many, spec, chunk, pure=False) for chunk in _chunks(points, workers)]
    for future in dask_completed(futures):
        yield future.result()
