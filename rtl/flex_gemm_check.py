"""Run a sequence of GEMMs, each weight- or output-stationary, through one
:class:`~.flex_gemm_engine.FlexibleGemmEngine` in one amaranth.sim run (the mode switched at each
``start``). Each GEMM's vectors are exactly what ``run_gemm`` / ``run_os_gemm`` play."""
from __future__ import annotations

from .gemm_check import GemmRun, drive_jobs, new_result, run_gemm
from .os_gemm_check import run_os_gemm


STREAMS = ("w", "a")


class _Record:
    """A driver that keeps the GEMM instead of running it."""

    def __init__(self, mode: int):
        self.mode, self.job = mode, None

    def __call__(self, dut, start, streams, cols, take, limit, bubbles=0.0, seed=0, gaps=None, ready=None):
        self.job = dict(start={**start, "mode": self.mode}, streams=streams, take=take, limit=limit,
                        bubbles=bubbles, seed=seed, gaps=gaps, ready=ready)
        return new_result()


def run_flex(cfg, dut, gemms: list[tuple], jobs_driver=drive_jobs) -> list[GemmRun]:
    """``gemms``: ``("weight_stationary" | "output_stationary", a, values, index, n_keep, m_group,
    kwargs)``, kwargs as ``run_gemm`` / ``run_os_gemm`` take them (``chunk``, ``interleave``,
    ``group``, ``gaps``, ``ready``). ``jobs_driver``: :func:`.gemm_check.drive_jobs` (amaranth.sim) or a
    :meth:`.verilog_check.VerilogSim.jobs` (the exported Verilog)."""
    runs, jobs = [], []
    for flow, a, values, index, n, m, kw in gemms:
        rec = _Record(int(flow == "output_stationary"))
        run = (run_os_gemm if rec.mode else run_gemm)(cfg, a, values, index, n, m, dut=dut, driver=rec, **kw)
        runs.append(run)          # its out is filled by the job's take while the sequence runs
        jobs.append(rec.job)
    start_ports = {p for job in jobs for p in job["start"]}
    for job in jobs:              # every GEMM sets all start ports (the other mode's parameter: 1)
        job["start"] = {p: job["start"].get(p, 1) for p in sorted(start_ports)}
        names = list(job["streams"])  # and offers its streams in one order (a gap stays with its stream)
        job["streams"] = {name: job["streams"][name] for name in STREAMS}
        if job["gaps"] is not None:
            job["gaps"] = [[row[names.index(name)] for name in STREAMS] for row in job["gaps"]]
    for run, res in zip(runs, jobs_driver(dut, jobs, cfg.cols)):
        run.last_write, run.done, run.writes, run.cycles = res["last"], res["done"], res["writes"], res["cycles"]
        run.stalls, run.log, run.held = res["stalls"], res["log"], res["held"]
    return runs
