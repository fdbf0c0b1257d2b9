"""How a result was made, as every JSON, CSV and report states it: the version, the fidelity, the
switch settings, the schedule's origin, the arch and trace digests and the command."""
from __future__ import annotations

from ..core.provenance import VERSION, command_line, digest, folder_digest, workload_digest
from ..sim.results import Result


def provenance(result: Result) -> dict:
    """The provenance record of one simulation result: ``trace_files_sha256`` digests the trace
    folder as it is on disk, ``trace_sha256`` the workload as simulated (batch and pattern
    overrides included), ``arch_sha256`` the arch as simulated (switch overrides included)."""
    arch, workload = result.arch, result.workload
    options = arch.dataflow_options
    schedule = result.schedule.source if result.schedule is not None and result.schedule.source else "dataflow compiler"
    return {"sparseloom": VERSION, "fidelity": result.fidelity,
            "switches": {"interleave": options.interleave, "pregenerate": options.pregenerate,
                         "offline_schedule": options.offline_schedule},
            "schedule": schedule, "arch": arch.name, "arch_sha256": digest(arch),
            "trace": workload.meta.name, "trace_folder": str(workload.path) if workload.path else None,
            "trace_files_sha256": folder_digest(workload.path) if workload.path else None,
            "trace_sha256": workload_digest(workload),
            "batch_size": workload.meta.batch_size, "command": command_line()}


def provenance_line(record: dict) -> str:
    """The record in one line (digests shortened to 12 hex digits)."""
    switches = ", ".join(f"{k.replace('_', '-')} {'on' if v else 'off'}" for k, v in record["switches"].items())
    return (f"sparseloom {record['sparseloom']}, {record['fidelity']} fidelity, {switches}, schedule from "
            f"{record['schedule']}; arch sha256 {record['arch_sha256'][:12]}, trace sha256 "
            f"{(record['trace_files_sha256'] or record['trace_sha256'])[:12]}; command: {record['command']}")


def provenance_paragraph(results: list[Result]) -> str:
    """One markdown paragraph for a report built from several results: the version, fidelities,
    switches, every arch's and trace folder's digest (12 hex digits) and the command."""
    records = [provenance(r) for r in results]
    archs = dict.fromkeys(f"`{p['arch']}` {p['arch_sha256'][:12]}" for p in records)
    traces = dict.fromkeys(f"`{p['trace']}` {(p['trace_files_sha256'] or p['trace_sha256'])[:12]}" for p in records)
    switches = dict.fromkeys(", ".join(f"{k.replace('_', '-')} {'on' if v else 'off'}" for k, v in p["switches"].items())
                             for p in records)
    return (f"Provenance: sparseloom {records[0]['sparseloom']}, {' and '.join(dict.fromkeys(p['fidelity'] for p in records))} "
            f"fidelity; switches {'; '.join(switches)}; arch sha256 {', '.join(archs)}; trace folder sha256 "
            f"{', '.join(traces)}; command `{records[0]['command']}`.")
