"""The protobuf edge of benchmark jobs: ``BenchmarkJob`` in (checked here; a job that cannot run as sent
carries its ``problem`` and is reported FAILED, never run), ``BenchmarkReport`` out."""

from __future__ import annotations

import math
import re

from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.connection.wire import variant_from_pb, variant_pb
from edgefleet.agent.workload.benchmark.model import (
    BenchmarkJob,
    BenchmarkReport,
    BenchmarkState,
    Candidate,
    CandidateResult,
)
from edgefleet.core.wire import energy_pb
from edgefleet.v1 import common_pb2, control_pb2

__all__ = ["MAX_CANDIDATES", "MAX_ROUNDS", "benchmark_job", "benchmark_report_message"]

MAX_CANDIDATES = 256
MAX_ROUNDS = 1000
#: Longest turn and longest deadline the agent accepts (a day).
MAX_SECONDS = 86400.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_RUNTIMES = {"": "litert", "litert": "litert", "tflite-micro": "tflite-micro"}

STATE_TO_PB: dict[BenchmarkState, common_pb2.BenchmarkState.ValueType] = {
    BenchmarkState.RUNNING: common_pb2.BENCHMARK_STATE_RUNNING,
    BenchmarkState.DONE: common_pb2.BENCHMARK_STATE_DONE,
    BenchmarkState.FAILED: common_pb2.BENCHMARK_STATE_FAILED,
    BenchmarkState.CANCELLED: common_pb2.BENCHMARK_STATE_CANCELLED,
}


def _problem(job: control_pb2.BenchmarkJob) -> str:
    if not _ID.match(job.job_id):
        return f"invalid job id {job.job_id[:80]!r}"
    if len(job.candidates) > MAX_CANDIDATES:
        return f"{len(job.candidates)} candidates; at most {MAX_CANDIDATES}"
    if job.rounds > MAX_ROUNDS:
        return f"{job.rounds} rounds; at most {MAX_ROUNDS}"
    for name in ("turn_seconds", "deadline_seconds"):
        value = getattr(job, name)
        if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
            return f"{name} {value!r} is not between 0 and {MAX_SECONDS:g}"
    if job.runtime not in _RUNTIMES:
        return f"runtime {job.runtime[:40]!r} is neither 'litert' nor 'tflite-micro'"
    for i, c in enumerate(job.candidates):
        if not c.variant.variant_id or not _SHA.match(c.artifact.sha256) or c.artifact.size_bytes == 0:
            return f"candidate {i} lacks a variant id or a valid artifact (sha256, size)"
    ids = [c.variant.variant_id for c in job.candidates]
    if len(set(ids)) != len(ids):
        return "a variant is listed twice"
    return ""


def benchmark_job(msg: control_pb2.OrchestratorMessage) -> BenchmarkJob | None:
    """The message's benchmark job as a domain object (None: the message is something else)."""
    if msg.WhichOneof("body") != "benchmark_job":
        return None
    job = msg.benchmark_job
    problem = _problem(job)
    candidates = tuple(
        Candidate(
            variant_from_pb(c.variant),
            ArtifactSpec(a.sha256, a.size_bytes, bytes(a.signature), a.signing_key_id),
        )
        for c in job.candidates
        for a in (c.artifact,)
    )
    return BenchmarkJob(
        job_id=job.job_id[:128],
        candidates=() if problem else candidates,
        rounds=job.rounds,
        turn_seconds=job.turn_seconds if not problem else 0.0,
        deadline_seconds=job.deadline_seconds if not problem else 0.0,
        runtime=_RUNTIMES.get(job.runtime, "litert"),
        problem=problem,
    )


def _result_pb(r: CandidateResult) -> common_pb2.BenchmarkResult:
    msg = common_pb2.BenchmarkResult(
        variant=variant_pb(r.variant),
        turns=r.turns,
        inferences=r.inferences,
        peak_rss_bytes=r.peak_rss_bytes,
        scored=r.scored,
        correct=r.correct,
        error=r.error,
        serving_inferences=r.serving_inferences,
        pace_per_second=r.pace_per_second,
    )
    if r.energy is not None:
        e = r.energy
        msg.energy.CopyFrom(energy_pb(e.gross_j, e.dynamic_j, e.sigma_j, e.kind, e.method, e.dynamic_sigma_j))
    if r.latency is not None:
        lat = r.latency
        msg.latency.CopyFrom(
            common_pb2.LatencySummary(
                p50_seconds=lat.p50_s, p95_seconds=lat.p95_s, p99_seconds=lat.p99_s, mean_seconds=lat.mean_s
            )
        )
    return msg


def benchmark_report_message(report: BenchmarkReport) -> control_pb2.AgentMessage:
    return control_pb2.AgentMessage(
        benchmark_report=control_pb2.BenchmarkReport(
            job_id=report.job_id,
            state=STATE_TO_PB[report.state],
            reason=report.reason,
            results=[_result_pb(r) for r in report.results],
            done=report.done,
            total=report.total,
        )
    )
