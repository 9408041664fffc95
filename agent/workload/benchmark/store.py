"""The final reports of benchmark jobs, kept in the data directory (``benchmark/reports.json``).

Every final report of a job received in the last 24 hours is sent again on each new stream (the orchestrator
de-duplicates by job id), and a job id received again after it finished is answered from here instead of
being run again. The in-memory copy is updated on the event loop (so a job that just finished is never
started twice); the file is written on the disk thread, atomically. A full disk keeps the reports in memory
for this process's life and says so in the log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.benchmark.model import (
    BenchmarkReport,
    BenchmarkState,
    CandidateResult,
    EnergyResult,
    LatencyResult,
)
from edgefleet.core.fsutil import atomic_write

__all__ = ["KEEP_SECONDS", "ReportStore", "report_from_dict", "report_to_dict"]

log = logging.getLogger("edgefleet.agent.workload.benchmark")
#: Final reports older than this (by the job's receipt) are neither resent nor kept.
KEEP_SECONDS = 24 * 3600.0


def report_to_dict(report: BenchmarkReport) -> dict[str, Any]:
    return asdict(report)


def _result(doc: dict[str, Any]) -> CandidateResult:
    energy, latency = doc.get("energy"), doc.get("latency")
    return CandidateResult(
        **{
            **doc,
            "variant": VariantInfo(**doc["variant"]),
            "energy": EnergyResult(**energy) if energy else None,
            "latency": LatencyResult(**latency) if latency else None,
        }
    )


def report_from_dict(doc: dict[str, Any]) -> BenchmarkReport:
    return BenchmarkReport(
        job_id=str(doc["job_id"]),
        state=BenchmarkState(doc["state"]),
        reason=str(doc.get("reason", "")),
        results=tuple(_result(r) for r in doc.get("results", ())),
        done=int(doc.get("done", 0)),
        total=int(doc.get("total", 0)),
    )


class ReportStore:
    def __init__(self, path: Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        #: job id -> (wall time the job was received, its final report)
        self._reports: dict[str, tuple[float, BenchmarkReport]] = {}

    def load(self) -> None:
        """Disk thread, at start. An unreadable file is logged and set aside, never fatal."""
        if not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_text())
            jobs = doc["jobs"]
            self._reports = {
                str(e["job_id"]): (float(e["received_at"]), report_from_dict(e["report"])) for e in jobs
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("benchmark reports %s are unreadable (%s); starting without them", self.path, exc)
            self._reports = {}
        self._prune()

    def get(self, job_id: str) -> BenchmarkReport | None:
        entry = self._reports.get(job_id)
        return entry[1] if entry is not None else None

    def recent(self) -> list[BenchmarkReport]:
        """Final reports of the jobs received in the last 24 h, oldest first."""
        self._prune()
        return [report for _, report in sorted(self._reports.values(), key=lambda e: e[0])]

    def remember(self, received_at: float, report: BenchmarkReport) -> bytes:
        """Keep ``report`` (event loop); returns the file's new content for ``write`` (disk thread)."""
        self._reports[report.job_id] = (received_at, report)
        self._prune()
        jobs = [
            {"job_id": job_id, "received_at": at, "report": report_to_dict(r)}
            for job_id, (at, r) in self._reports.items()
        ]
        return json.dumps({"jobs": jobs}, indent=1).encode()

    def write(self, data: bytes) -> None:
        """Disk thread."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, data)
        except OSError as exc:
            log.warning("cannot save benchmark reports to %s (%s); keeping them in memory", self.path, exc)

    def _prune(self) -> None:
        oldest = self._wall() - KEEP_SECONDS
        self._reports = {k: v for k, v in self._reports.items() if v[0] >= oldest}
