"""The client's protobuf edge: FleetAdmin answers -> views."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from edgefleet.core.enums import SlotState
from edgefleet.core.wire import FAULT_FROM_PB, KIND_FROM_PB, PHASE_FROM_PB, SLOT_STATE_FROM_PB
from edgefleet.orchestrator.client.views import (
    BenchmarkCandidateView,
    BenchmarkResultView,
    BenchmarkView,
    ConditionView,
    DeviceView,
    RolloutDeviceView,
    RolloutView,
    SlotView,
    TelemetryView,
    VariantRefView,
)
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["benchmark_view", "device_view", "rollout_view", "telemetry_view"]

_STATUS = {
    admin_pb2.DEVICE_STATUS_ONLINE: "online",
    admin_pb2.DEVICE_STATUS_OFFLINE: "offline",
    admin_pb2.DEVICE_STATUS_REVOKED: "revoked",
}
_ROLLOUT_STATE = {
    admin_pb2.ROLLOUT_STATE_PENDING: "pending",
    admin_pb2.ROLLOUT_STATE_RUNNING: "running",
    admin_pb2.ROLLOUT_STATE_PAUSED: "paused",
    admin_pb2.ROLLOUT_STATE_SUCCEEDED: "succeeded",
    admin_pb2.ROLLOUT_STATE_ROLLED_BACK: "rolled_back",
    admin_pb2.ROLLOUT_STATE_ABORTED: "aborted",
    admin_pb2.ROLLOUT_STATE_BENCHMARKING: "benchmarking",
    admin_pb2.ROLLOUT_STATE_KEPT: "kept",
}


def _time(msg: object, name: str) -> float | None:
    if not msg.HasField(name):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(msg, name)
    return stamp.ToNanoseconds() / 1e9


def _ref(msg: object, name: str) -> VariantRefView | None:
    if not msg.HasField(name):  # type: ignore[attr-defined]
        return None
    ref: common_pb2.VariantRef = getattr(msg, name)
    return VariantRefView(ref.variant_id, ref.model, ref.recipe)


def device_view(m: admin_pb2.Device) -> DeviceView:
    slots = tuple(
        SlotView(
            name="a" if s.name == common_pb2.SLOT_NAME_A else "b",
            state=str(SLOT_STATE_FROM_PB.get(s.state, SlotState.EMPTY)),
            variant=_ref(s, "variant"),
            reason=s.reason,
            since=_time(s, "since"),
        )
        for s in m.slots
    )
    return DeviceView(
        device_id=m.device_id,
        name=m.name,
        profile=m.profile,
        labels=dict(m.labels),
        status=_STATUS.get(m.status, "unknown"),
        created=_time(m, "created"),
        last_seen=_time(m, "last_seen"),
        phase=str(PHASE_FROM_PB.get(m.phase, "")),
        phase_reason=m.phase_reason,
        phase_fault=str(FAULT_FROM_PB.get(m.phase_fault, "")),
        active=_ref(m, "active"),
        previous=_ref(m, "previous"),
        desired=_ref(m, "desired"),
        desired_generation=m.desired_generation,
        applied_generation=m.applied_generation,
        runtime_name=m.runtime.name,
        runtime_version=m.runtime.version,
        agent_version=m.agent_version,
        hardware=MessageToDict(m.hardware, preserving_proto_field_name=True),
        slots=slots,
        conditions=tuple(ConditionView(c.type, c.message, _time(c, "since")) for c in m.conditions),
        slots_reported=_time(m, "slots_reported"),
        replica=m.replica,
    )


def rollout_view(m: admin_pb2.Rollout) -> RolloutView:
    return RolloutView(
        rollout_id=m.rollout_id,
        model=m.model,
        state=_ROLLOUT_STATE.get(m.state, "unknown"),
        state_reason=m.state_reason,
        wave=m.wave,
        waves_total=m.waves_total,
        variants={p: v.variant_id for p, v in m.variants.items()},
        devices=tuple(
            RolloutDeviceView(
                d.device_id,
                d.wave,
                d.state,
                d.reason,
                _time(d, "since"),
                _optional(d, "incumbent_joules"),
                _optional(d, "candidate_joules"),
                _optional(d, "saving"),
                _optional(d, "saving_lower"),
                _optional(d, "saving_upper"),
            )
            for d in m.devices
        ),
        created=_time(m, "created"),
        updated=_time(m, "updated"),
        wave_fractions=tuple(m.policy.waves),
        bake_seconds=m.policy.bake_seconds,
        max_failing_share=m.policy.max_failing_share,
        pause_after_seconds=m.policy.pause_after_seconds,
        policy_hash=m.policy_hash,
        benchmark_jobs=dict(m.benchmark_jobs),
    )


def _optional(msg: object, name: str) -> float | None:
    return float(getattr(msg, name)) if msg.HasField(name) else None  # type: ignore[attr-defined]


def telemetry_view(v: admin_pb2.VariantTelemetry) -> TelemetryView:
    return TelemetryView(
        profile=v.profile,
        variant_id=v.variant.variant_id,
        recipe=v.variant.recipe,
        windows=v.windows,
        devices=v.devices,
        inferences=v.inferences,
        energy_j=v.energy_joules_mean,
        energy_sigma_j=v.energy_joules_sigma,
        measure=v.energy_measure,
        gross_j=_optional(v, "gross_joules_mean"),
        dynamic_j=_optional(v, "dynamic_joules_mean"),
        energy_kind=str(KIND_FROM_PB.get(v.energy_kind, "")),
        energy_methods=tuple(v.energy_methods),
        latency_p95_s=v.latency_p95_seconds,
        scored=v.labelled,
        correct=v.correct,
        feedback_labelled=v.feedback_labelled,
        feedback_correct=v.feedback_correct,
        correction=_optional(v, "correction"),
    )


_FIGURE_KIND = {
    admin_pb2.FIGURE_KIND_MEASURED: "measured",
    admin_pb2.FIGURE_KIND_ESTIMATED_ON_DEVICE: "estimated-on-device",
    admin_pb2.FIGURE_KIND_LEARNT: "learnt",
    admin_pb2.FIGURE_KIND_PRIOR: "prior",
}


def benchmark_view(m: admin_pb2.BenchmarkJobStatus) -> BenchmarkView:
    results = []
    for row in m.results:
        r = row.result
        has_energy = r.HasField("energy")
        results.append(
            BenchmarkResultView(
                device_id=row.device_id,
                variant_id=r.variant.variant_id,
                turns=r.turns,
                inferences=r.inferences,
                gross_j=r.energy.gross_joules_per_inference if has_energy else None,
                dynamic_j=_optional(r.energy, "dynamic_joules_per_inference") if has_energy else None,
                sigma_j=r.energy.sigma_joules,
                dynamic_sigma_j=_optional(r.energy, "dynamic_sigma_joules") if has_energy else None,
                energy_kind=str(KIND_FROM_PB.get(r.energy.kind, "")) if has_energy else "",
                energy_method=r.energy.method,
                latency_p50_s=r.latency.p50_seconds,
                latency_p95_s=r.latency.p95_seconds,
                peak_rss_bytes=r.peak_rss_bytes,
                scored=r.scored,
                correct=r.correct,
                error=r.error,
                serving_inferences=r.serving_inferences,
                pace_per_second=r.pace_per_second,
            )
        )
    return BenchmarkView(
        job_id=m.job_id,
        model=m.model,
        profile=m.profile,
        state=m.state,
        reason=m.reason,
        created=_time(m, "created"),
        rounds=m.rounds,
        turn_seconds=m.turn_seconds,
        deadline_seconds=m.deadline_seconds,
        candidates=tuple(
            BenchmarkCandidateView(
                c.variant.variant_id,
                c.variant.recipe,
                c.why,
                c.estimated_energy_joules,
                c.estimated_latency_p95_seconds,
                _FIGURE_KIND.get(c.estimate_kind, ""),
            )
            for c in m.candidates
        ),
        devices=tuple((d.device_id, d.state, d.reason) for d in m.devices),
        results=tuple(results),
    )
