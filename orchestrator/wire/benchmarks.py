"""Benchmark jobs and reports <-> protobuf (the Connect stream and the FleetAdmin edge)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from edgefleet.core.enums import EnergyKind, FigureKind
from edgefleet.core.wire import KIND_FROM_PB, energy_pb
from edgefleet.orchestrator.benchmark.model import (
    REPORT_STATES,
    BenchmarkJob,
    BenchmarkResult,
    BenchmarkSettings,
    DeviceReport,
)
from edgefleet.orchestrator.fleet.model import BundleRecord
from edgefleet.orchestrator.variants.card import VariantCard
from edgefleet.orchestrator.wire.plans import FIGURE_TO_PB
from edgefleet.v1 import admin_pb2, common_pb2, control_pb2

__all__ = [
    "artifact_pb",
    "job_to_pb",
    "report_from_pb",
    "result_to_pb",
    "rollout_settings_from_pb",
    "settings_from_pb",
    "status_to_pb",
]


def settings_from_pb(m: admin_pb2.StartBenchmarkRequest) -> BenchmarkSettings:
    """Unset (zero) fields take the defaults."""
    d = BenchmarkSettings()
    return BenchmarkSettings(
        top_k=m.top_k or d.top_k,
        devices=m.devices or d.devices,
        rounds=m.rounds or d.rounds,
        turn_seconds=m.turn_seconds or d.turn_seconds,
        deadline_seconds=m.deadline_seconds or d.deadline_seconds,
    )


def rollout_settings_from_pb(m: admin_pb2.StartRolloutRequest, canaries: int) -> BenchmarkSettings:
    """A rollout's benchmark phase: up to ``canaries`` devices per profile unless the request says."""
    d = BenchmarkSettings()
    return BenchmarkSettings(
        top_k=m.benchmark_top_k or d.top_k,
        devices=m.benchmark_devices or canaries,
        rounds=m.benchmark_rounds or d.rounds,
        turn_seconds=m.benchmark_turn_seconds or d.turn_seconds,
    )


_STATES = {
    common_pb2.BENCHMARK_STATE_RUNNING: "running",
    common_pb2.BENCHMARK_STATE_DONE: "done",
    common_pb2.BENCHMARK_STATE_FAILED: "failed",
    common_pb2.BENCHMARK_STATE_CANCELLED: "cancelled",
}
assert set(_STATES.values()) == set(REPORT_STATES)


def artifact_pb(bundle: BundleRecord) -> control_pb2.ArtifactInfo:
    return control_pb2.ArtifactInfo(
        sha256=bundle.sha256,
        size_bytes=bundle.size,
        signature=bundle.signature,
        signing_key_id=bundle.key_id,
        format="edgefleet-bundle/1",
    )


def job_to_pb(
    job: BenchmarkJob, candidates: Sequence[tuple[VariantCard, BundleRecord]], runtime: str
) -> control_pb2.BenchmarkJob:
    """``candidates`` empty: the job is cancelled on the device."""
    return control_pb2.BenchmarkJob(
        job_id=job.job_id,
        candidates=[
            control_pb2.BenchmarkCandidate(
                variant=common_pb2.VariantRef(
                    variant_id=card.variant_id, model=card.model, recipe=card.recipe
                ),
                artifact=artifact_pb(bundle),
            )
            for card, bundle in candidates
        ],
        rounds=job.rounds,
        turn_seconds=job.turn_seconds,
        deadline_seconds=job.deadline_seconds,
        runtime=runtime,
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) and value >= 0 else 0.0


def report_from_pb(msg: control_pb2.BenchmarkReport) -> DeviceReport:
    """The device's report; identity and job fields of the results are filled by the service. Values that
    are not finite or negative are read as 0 (the figure is then left out)."""
    results = []
    for r in msg.results[:200]:
        has_energy = r.HasField("energy")
        gross = _finite(r.energy.gross_joules_per_inference) if has_energy else 0.0
        dynamic = _finite(r.energy.dynamic_joules_per_inference)
        results.append(
            BenchmarkResult(
                job_id="",
                device_id="",
                profile="",
                model=r.variant.model[:64],
                variant_id=r.variant.variant_id[:64],
                turns=r.turns,
                inferences=r.inferences,
                gross_j=gross if has_energy and gross > 0 else None,
                dynamic_j=dynamic
                if has_energy and r.energy.HasField("dynamic_joules_per_inference") and dynamic > 0
                else None,
                sigma_j=_finite(r.energy.sigma_joules),
                dynamic_sigma_j=_finite(r.energy.dynamic_sigma_joules)
                if has_energy and r.energy.HasField("dynamic_sigma_joules")
                else None,
                energy_kind=str(KIND_FROM_PB.get(r.energy.kind, EnergyKind.ESTIMATED)) if has_energy else "",
                energy_method=r.energy.method[:128],
                latency_p50_s=_finite(r.latency.p50_seconds),
                latency_p95_s=_finite(r.latency.p95_seconds),
                peak_rss_bytes=r.peak_rss_bytes,
                scored=r.scored,
                correct=min(r.correct, r.scored),
                error=r.error[:500],
                serving_inferences=r.serving_inferences,
                pace_per_second=_finite(r.pace_per_second),
            )
        )
    return DeviceReport(
        job_id=msg.job_id[:64],
        state=_STATES.get(msg.state, "running"),
        reason=msg.reason[:500],
        results=tuple(results),
        done=msg.done,
        total=msg.total,
    )


def result_to_pb(r: BenchmarkResult) -> common_pb2.BenchmarkResult:
    msg = common_pb2.BenchmarkResult(
        variant=common_pb2.VariantRef(variant_id=r.variant_id, model=r.model),
        turns=r.turns,
        inferences=r.inferences,
        latency=common_pb2.LatencySummary(p50_seconds=r.latency_p50_s, p95_seconds=r.latency_p95_s),
        peak_rss_bytes=r.peak_rss_bytes,
        scored=r.scored,
        correct=r.correct,
        error=r.error,
        serving_inferences=r.serving_inferences,
        pace_per_second=r.pace_per_second,
    )
    if r.gross_j is not None:
        msg.energy.CopyFrom(
            energy_pb(r.gross_j, r.dynamic_j, r.sigma_j, r.energy_kind, r.energy_method, r.dynamic_sigma_j)
        )
    return msg


def status_to_pb(
    job: BenchmarkJob, results: Sequence[BenchmarkResult], cards: dict[str, VariantCard]
) -> admin_pb2.BenchmarkJobStatus:
    msg = admin_pb2.BenchmarkJobStatus(
        job_id=job.job_id,
        model=job.model,
        profile=job.profile,
        state=str(job.state),
        reason=job.reason,
        rounds=job.rounds,
        turn_seconds=job.turn_seconds,
        deadline_seconds=job.deadline_seconds,
    )
    msg.created.FromNanoseconds(int(job.created * 1e9))
    for vid in job.candidates:
        card = cards.get(vid)
        estimate = job.estimates.get(vid, {})
        kind = FigureKind(estimate.get("kind", FigureKind.PRIOR))
        msg.candidates.add(
            variant=common_pb2.VariantRef(
                variant_id=vid, model=job.model, recipe=card.recipe if card else ""
            ),
            why=job.why.get(vid, ""),
            estimated_energy_joules=float(estimate.get("energy_j", 0.0)),
            estimated_latency_p95_seconds=float(estimate.get("latency_s", 0.0)),
            estimate_kind=FIGURE_TO_PB.get(kind, admin_pb2.FIGURE_KIND_UNSPECIFIED),
        )
    for device_id in job.devices:
        msg.devices.add(
            device_id=device_id,
            state=job.device_states.get(device_id, ""),
            reason=job.device_reasons.get(device_id, ""),
        )
    for r in results:
        msg.results.add(device_id=r.device_id, result=result_to_pb(r))
    return msg
