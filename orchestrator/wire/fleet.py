"""Fleet domain objects <-> protobuf (FleetControl and FleetAdmin edges)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict, ParseDict

from edgefleet.core.wire import KIND_FROM_PB, energy_pb
from edgefleet.orchestrator.fleet.model import Desired, DeviceRecord, Report, SlotReport, WindowRecord
from edgefleet.orchestrator.service.fleet import Assignment
from edgefleet.v1 import admin_pb2, common_pb2, control_pb2

__all__ = [
    "PHASE_FROM_PB",
    "assignments_to_pb",
    "desired_to_pb",
    "device_from_pb",
    "device_to_pb",
    "report_from_hello",
    "window_from_pb",
    "window_to_pb",
]

PHASE_FROM_PB = {
    common_pb2.DEPLOYMENT_PHASE_DOWNLOADING: "downloading",
    common_pb2.DEPLOYMENT_PHASE_VERIFYING: "verifying",
    common_pb2.DEPLOYMENT_PHASE_INSTALLING: "installing",
    common_pb2.DEPLOYMENT_PHASE_TRIAL: "trial",
    common_pb2.DEPLOYMENT_PHASE_COMMITTED: "committed",
    common_pb2.DEPLOYMENT_PHASE_FAILED: "failed",
    common_pb2.DEPLOYMENT_PHASE_ROLLED_BACK: "rolled_back",
}
_PHASE_TO_PB = {v: k for k, v in PHASE_FROM_PB.items()}
_SLOT_STATE = {
    common_pb2.SLOT_STATE_EMPTY: "empty",
    common_pb2.SLOT_STATE_STANDBY: "standby",
    common_pb2.SLOT_STATE_TRIAL: "trial",
    common_pb2.SLOT_STATE_COMMITTED: "committed",
    common_pb2.SLOT_STATE_FAILED: "failed",
}
_SLOT_STATE_TO_PB = {v: k for k, v in _SLOT_STATE.items()}


def report_from_hello(h: control_pb2.Hello) -> Report:
    slots = tuple(
        SlotReport(
            name="a" if s.name == common_pb2.SLOT_NAME_A else "b",
            state=_SLOT_STATE.get(s.state, "empty"),
            variant_id=s.variant.variant_id,
            recipe=s.variant.recipe,
            reason=s.reason[:1000],
        )
        for s in h.slots[:2]
    )
    return Report(
        hardware=MessageToDict(h.hardware, preserving_proto_field_name=True),
        runtime_name=h.runtime.name[:64],
        runtime_version=h.runtime.version[:64],
        active_variant=h.active.variant_id,
        active_recipe=h.active.recipe,
        previous_variant=h.previous.variant_id,
        slots=slots,
        agent_version=h.agent_version[:64],
        applied_generation=h.applied_generation,
    )


def desired_to_pb(d: Desired) -> control_pb2.DesiredState:
    return control_pb2.DesiredState(
        generation=d.generation,
        variant=common_pb2.VariantRef(variant_id=d.variant_id, model=d.model, recipe=d.recipe),
        artifact=control_pb2.ArtifactInfo(
            sha256=d.bundle_sha256,
            size_bytes=d.bundle_size,
            signature=d.signature,
            signing_key_id=d.key_id,
            format="edgefleet-bundle/1",
        ),
        reason=d.reason,
        trial_seconds=d.trial_seconds,
        runtime=d.runtime,
    )


def device_to_pb(d: DeviceRecord) -> admin_pb2.Device:
    msg = admin_pb2.Device(
        device_id=d.device_id,
        name=d.name,
        profile=d.profile,
        labels=d.labels,
        status=admin_pb2.DEVICE_STATUS_REVOKED
        if d.revoked
        else admin_pb2.DEVICE_STATUS_ONLINE
        if d.online
        else admin_pb2.DEVICE_STATUS_OFFLINE,
        phase=_PHASE_TO_PB.get(d.phase, common_pb2.DEPLOYMENT_PHASE_UNSPECIFIED),
        phase_reason=d.phase_reason,
    )
    if d.last_seen:
        msg.last_seen.FromNanoseconds(int(d.last_seen * 1e9))
    r = d.report
    if r is not None:
        ParseDict(r.hardware, msg.hardware, ignore_unknown_fields=True)

        msg.runtime.CopyFrom(common_pb2.RuntimeInfo(name=r.runtime_name, version=r.runtime_version))
        if r.active_variant:
            msg.active.CopyFrom(common_pb2.VariantRef(variant_id=r.active_variant, recipe=r.active_recipe))
        if r.previous_variant:
            msg.previous.CopyFrom(common_pb2.VariantRef(variant_id=r.previous_variant))
        for s in r.slots:
            slot = msg.slots.add(
                name=common_pb2.SLOT_NAME_A if s.name == "a" else common_pb2.SLOT_NAME_B,
                state=_SLOT_STATE_TO_PB.get(s.state, common_pb2.SLOT_STATE_EMPTY),
                reason=s.reason,
            )
            if s.variant_id:
                slot.variant.CopyFrom(common_pb2.VariantRef(variant_id=s.variant_id, recipe=s.recipe))
        msg.applied_generation = r.applied_generation
        msg.agent_version = r.agent_version
    if d.desired is not None:
        msg.desired.CopyFrom(
            common_pb2.VariantRef(
                variant_id=d.desired.variant_id, model=d.desired.model, recipe=d.desired.recipe
            )
        )
        msg.desired_generation = d.desired.generation
    return msg


def device_from_pb(m: admin_pb2.Device) -> DeviceRecord:
    report = None
    if m.HasField("runtime"):
        report = Report(
            hardware=MessageToDict(m.hardware, preserving_proto_field_name=True),
            runtime_name=m.runtime.name,
            runtime_version=m.runtime.version,
            active_variant=m.active.variant_id,
            active_recipe=m.active.recipe,
            previous_variant=m.previous.variant_id,
            slots=tuple(
                SlotReport(
                    "a" if s.name == common_pb2.SLOT_NAME_A else "b",
                    _SLOT_STATE.get(s.state, "empty"),
                    s.variant.variant_id,
                    s.variant.recipe,
                    s.reason,
                )
                for s in m.slots
            ),
            agent_version=m.agent_version,
            applied_generation=m.applied_generation,
        )
    desired = None
    if m.HasField("desired"):
        desired = Desired(
            m.desired_generation,
            m.desired.variant_id,
            m.desired.model,
            m.desired.recipe,
            "",
            "",
            0,
            b"",
            "",
            "",
            0.0,
            "",
        )
    return DeviceRecord(
        device_id=m.device_id,
        name=m.name,
        profile=m.profile,
        labels=dict(m.labels),
        secret_hash="",
        created=0.0,
        revoked=m.status == admin_pb2.DEVICE_STATUS_REVOKED,
        last_seen=m.last_seen.ToNanoseconds() / 1e9 if m.HasField("last_seen") else 0.0,
        report=report,
        desired=desired,
        phase=PHASE_FROM_PB.get(m.phase, ""),
        phase_reason=m.phase_reason,
        online=m.status == admin_pb2.DEVICE_STATUS_ONLINE,
    )


def window_from_pb(device_id: str, profile: str, w: common_pb2.TelemetryWindow) -> WindowRecord:
    has_energy = w.HasField("energy")
    return WindowRecord(
        device_id=device_id,
        profile=profile,
        seq=w.sequence,
        variant_id=w.variant.variant_id[:64],
        model=w.variant.model[:64],
        recipe=w.variant.recipe[:64],
        start=w.start.ToNanoseconds() / 1e9,
        end=w.end.ToNanoseconds() / 1e9,
        inferences=w.inferences,
        gross_j=w.energy.gross_joules_per_inference if has_energy else None,
        dynamic_j=w.energy.dynamic_joules_per_inference
        if has_energy and w.energy.HasField("dynamic_joules_per_inference")
        else None,
        sigma_j=w.energy.sigma_joules,
        energy_kind=KIND_FROM_PB.get(w.energy.kind, "estimated") if has_energy else "",
        energy_method=w.energy.method[:128],
        latency_p50_s=w.latency.p50_seconds,
        latency_p95_s=w.latency.p95_seconds,
        latency_p99_s=w.latency.p99_seconds,
        labelled=w.labelled,
        correct=w.correct,
        cpu_percent=w.cpu_percent,
        rss_bytes=w.rss_bytes,
        temperature_c=w.temperature_celsius if w.HasField("temperature_celsius") else None,
        flags=tuple(f[:300] for f in w.flags[:20]),
    )


def window_to_pb(w: WindowRecord) -> common_pb2.TelemetryWindow:
    msg = common_pb2.TelemetryWindow(
        sequence=w.seq,
        variant=common_pb2.VariantRef(variant_id=w.variant_id, model=w.model, recipe=w.recipe),
        inferences=w.inferences,
        labelled=w.labelled,
        correct=w.correct,
        cpu_percent=w.cpu_percent,
        rss_bytes=w.rss_bytes,
        flags=list(w.flags),
        latency=common_pb2.LatencySummary(
            p50_seconds=w.latency_p50_s, p95_seconds=w.latency_p95_s, p99_seconds=w.latency_p99_s
        ),
    )
    msg.start.FromNanoseconds(int(w.start * 1e9))
    msg.end.FromNanoseconds(int(w.end * 1e9))
    if w.gross_j is not None:
        msg.energy.CopyFrom(energy_pb(w.gross_j, w.dynamic_j, w.sigma_j, w.energy_kind, w.energy_method))
    if w.temperature_c is not None:
        msg.temperature_celsius = w.temperature_c
    return msg


def assignments_to_pb(assignments: Sequence[Assignment]) -> list[admin_pb2.DeviceAssignment]:
    """What Deploy and Rollback answer: the device, its profile and the desired variant and generation."""
    return [
        admin_pb2.DeviceAssignment(
            device_id=a.device_id,
            profile=a.profile,
            generation=a.desired.generation,
            variant=common_pb2.VariantRef(
                variant_id=a.desired.variant_id, model=a.desired.model, recipe=a.desired.recipe
            ),
        )
        for a in assignments
    ]
