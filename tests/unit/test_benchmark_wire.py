"""The wire of issue 16 on the agent: benchmark jobs in (checked at the edge), reports out, the stored report
round trip, and the new telemetry fields (distinct-sample bitmaps, feedback, the meter's seconds and idle
power, the batch's dropped-through sequence)."""

from __future__ import annotations

import math
from pathlib import Path

from edgefleet.agent.connection.wire import telemetry_message, window_bytes
from edgefleet.agent.connection.wire_benchmark import benchmark_job, benchmark_report_message
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.telemetry.windows import Window
from edgefleet.agent.workload.benchmark.model import (
    BenchmarkReport,
    BenchmarkState,
    CandidateResult,
    EnergyResult,
    LatencyResult,
)
from edgefleet.agent.workload.benchmark.store import ReportStore, report_from_dict, report_to_dict
from edgefleet.agent.workload.coverage import Coverage
from edgefleet.v1 import common_pb2, control_pb2

V = VariantInfo("a" * 64, "digits", "fp32")


def job_msg(**kw: object) -> control_pb2.OrchestratorMessage:
    fields: dict[str, object] = {
        "job_id": "job-1",
        "candidates": [
            control_pb2.BenchmarkCandidate(
                variant=common_pb2.VariantRef(variant_id=V.variant_id, model="digits", recipe="fp32"),
                artifact=control_pb2.ArtifactInfo(
                    sha256="b" * 64, size_bytes=10, signature=b"s", signing_key_id="k"
                ),
            )
        ],
        "rounds": 3,
        "turn_seconds": 2.0,
        "deadline_seconds": 60.0,
        "runtime": "tflite-micro",
    }
    fields.update(kw)
    return control_pb2.OrchestratorMessage(benchmark_job=control_pb2.BenchmarkJob(**fields))  # type: ignore[arg-type]


def test_a_job_becomes_a_domain_object() -> None:
    job = benchmark_job(job_msg())
    assert job is not None
    assert (job.job_id, job.rounds, job.turn_seconds, job.deadline_seconds, job.runtime) == (
        "job-1",
        3,
        2.0,
        60.0,
        "tflite-micro",
    )
    [c] = job.candidates
    assert c.variant == V
    assert (c.artifact.sha256, c.artifact.size, c.artifact.signature, c.artifact.key_id) == (
        "b" * 64,
        10,
        b"s",
        "k",
    )
    assert (job.problem, job.cancels) == ("", False)
    cancel = benchmark_job(job_msg(candidates=[]))
    assert cancel is not None
    assert cancel.cancels
    assert benchmark_job(control_pb2.OrchestratorMessage(telemetry_ack=control_pb2.TelemetryAck())) is None


def test_a_job_that_cannot_run_as_sent_carries_its_problem() -> None:
    cases = {
        "invalid job id": job_msg(job_id=""),
        "turn_seconds": job_msg(turn_seconds=math.inf),
        "deadline_seconds": job_msg(deadline_seconds=-1.0),
        "runtime": job_msg(runtime="onnx"),
        "rounds": job_msg(rounds=10**6),
        "valid artifact": job_msg(
            candidates=[control_pb2.BenchmarkCandidate(variant=common_pb2.VariantRef(variant_id="x"))]
        ),
    }
    for words, msg in cases.items():
        job = benchmark_job(msg)
        assert job is not None
        assert words in job.problem, (words, job.problem)
        assert job.candidates == ()
        assert not job.cancels


RESULT = CandidateResult(
    variant=V,
    turns=3,
    inferences=3000,
    energy=EnergyResult(2e-4, 5e-5, 1e-6, "estimated", "estimate:cpu-time"),
    latency=LatencyResult(1e-4, 2e-4, 3e-4, 1.2e-4),
    peak_rss_bytes=123_456_789,
    scored=180,
    correct=171,
    serving_inferences=42,
)
REPORT = BenchmarkReport(
    "job-1",
    BenchmarkState.DONE,
    "",
    (RESULT, CandidateResult(VariantInfo("c" * 64, "digits", "fp16"), error="does not load: x")),
    2,
    2,
)


def test_a_report_goes_on_the_wire_with_every_figure() -> None:
    msg = benchmark_report_message(REPORT).benchmark_report
    assert (msg.job_id, msg.state, msg.done, msg.total) == ("job-1", common_pb2.BENCHMARK_STATE_DONE, 2, 2)
    r, failed = msg.results
    assert (r.turns, r.inferences, r.peak_rss_bytes, r.scored, r.correct, r.serving_inferences) == (
        3,
        3000,
        123_456_789,
        180,
        171,
        42,
    )
    assert r.energy.gross_joules_per_inference == 2e-4
    assert r.energy.dynamic_joules_per_inference == 5e-5
    assert (r.energy.kind, r.energy.method) == (common_pb2.MEASUREMENT_KIND_ESTIMATED, "estimate:cpu-time")
    assert (r.latency.p50_seconds, r.latency.p95_seconds) == (1e-4, 2e-4)
    assert failed.error == "does not load: x"
    assert not failed.HasField("energy")
    assert not failed.HasField("latency")


def test_final_reports_survive_a_restart_for_24_hours(tmp_path: Path) -> None:
    assert report_from_dict(report_to_dict(REPORT)) == REPORT
    path = tmp_path / "reports.json"
    now = [1_000_000.0]
    store = ReportStore(path, wall=lambda: now[0])
    store.write(store.remember(now[0] - 90_000, BenchmarkReport("old", BenchmarkState.DONE)))
    store.write(store.remember(now[0] - 10, REPORT))
    again = ReportStore(path, wall=lambda: now[0])
    again.load()
    assert again.recent() == [REPORT]  # the one received more than 24 h ago is gone
    assert again.get("job-1") == REPORT
    path.write_text("{not json")
    broken = ReportStore(path, wall=lambda: now[0])
    broken.load()  # logged, never fatal
    assert broken.recent() == []


def test_windows_carry_the_distinct_samples_feedback_and_the_meter() -> None:
    w = Window(
        variant=V,
        start=1.0,
        end=11.0,
        inferences=300,
        latency_p50_s=1e-4,
        latency_p95_s=2e-4,
        latency_p99_s=3e-4,
        latency_mean_s=1e-4,
        gross_j=1e-3,
        dynamic_j=2e-4,
        sigma_j=1e-5,
        energy_kind="estimated",
        energy_method="estimate:cpu-time",
        labelled=302,
        correct=290,
        cpu_percent=10.0,
        rss_bytes=1,
        temperature_c=None,
        flags=(),
        coverage=Coverage(V.variant_id, bytes([0xFF, 0x01]), bytes([0x7F, 0x00])),
        feedback_labelled=2,
        feedback_correct=1,
        measured_seconds=10.02,
        idle_watts=2.7,
    )
    msg = common_pb2.TelemetryWindow.FromString(window_bytes(w, 7))
    assert (msg.scored_samples, msg.correct_samples) == (bytes([0xFF, 0x01]), bytes([0x7F, 0x00]))
    assert (msg.feedback_labelled, msg.feedback_correct, msg.labelled, msg.correct) == (2, 1, 302, 290)
    assert (msg.measured_seconds, msg.idle_watts) == (10.02, 2.7)
    batch = telemetry_message([window_bytes(w, 7)], dropped_through=9).telemetry
    assert (len(batch.windows), batch.dropped_through_sequence) == (1, 9)
