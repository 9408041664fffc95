"""Fleet domain objects <-> protobuf (FleetControl and FleetAdmin edges)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.timestamp_pb2 import Timestamp

from edgefleet.core.enums import DeploymentPhase, EnergyKind, FaultDomain, SlotState
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.wire import (
    FAULT_FROM_PB,
    KIND_FROM_PB,
    PHASE_FROM_PB,
    PHASE_TO_PB,
    SLOT_STATE_FROM_PB,
    SLOT_STATE_TO_PB,
    energy_pb,
)
from edgefleet.orchestrator.fleet.model import (
    Condition,
    Desired,
    DeviceRecord,
    Report,
    SlotReport,
    WindowRecord,
)
from edgefleet.orchestrator.service.deployments import Assignment
from edgefleet.orchestrator.service.devices import StatusReport
from edgefleet.v1 import admin_pb2, common_pb2, control_pb2

__all__ = [
    "assignments_to_pb",
    "conditions_from_pb",
    "desired_to_pb",
    "device_to_pb",
    "report_from_hello",
    "status_from_pb",
    "window_from_pb",
    "window_to_pb",
]


def slots_from_pb(slots: Sequence[common_pb2.Slot]) -> tuple[SlotReport, ...]:
    return tuple(
        SlotReport(
            name="a" if s.name == common_pb2.SLOT_NAME_A else "b",
            state=SLOT_STATE_FROM_PB.get(s.state, SlotState.EMPTY),
            variant_id=s.variant.variant_id[:64],
            recipe=s.variant.recipe[:64],
            reason=s.reason[:1000],
            since=s.since.ToNanoseconds() / 1e9 if s.HasField("since") else 0.0,
        )
        for s in slots[:2]
    )


def report_from_hello(h: control_pb2.Hello) -> Report:
    return Report(
        hardware=MessageToDict(h.hardware, preserving_proto_field_name=True),
        runtime_name=h.runtime.name[:64],
        runtime_version=h.runtime.version[:64],
        active_variant=h.active.variant_id,
        active_recipe=h.active.recipe,
        previous_variant=h.previous.variant_id,
        slots=slots_from_pb(h.slots),
        agent_version=h.agent_version[:64],
        applied_generation=h.applied_generation,
    )


def _phase_pb(phase: str) -> common_pb2.DeploymentPhase.ValueType:
    known = phase in DeploymentPhase.__members__.values()
    return PHASE_TO_PB[DeploymentPhase(phase)] if known else common_pb2.DEPLOYMENT_PHASE_UNSPECIFIED


def status_from_pb(st: control_pb2.DeploymentStatus) -> StatusReport:
    phase = PHASE_FROM_PB.get(st.phase)
    if phase is None:
        raise InvalidArgument(f"deployment status with unknown phase {st.phase}")
    return StatusReport(
        generation=st.generation,
        phase=phase,
        reason=st.reason,
        done=st.bytes_done,
        total=st.bytes_total,
        active=(st.active.variant_id, st.active.recipe) if st.HasField("active") else None,
        runtime=(st.runtime.name, st.runtime.version) if st.HasField("runtime") else None,
        fault=FAULT_FROM_PB.get(st.fault, FaultDomain.UNKNOWN),
        slots=slots_from_pb(st.slots) if st.slots else None,  # an agent that sends none: keep the Hello's
    )


def desired_to_pb(d: Desired, url: str = "") -> control_pb2.DesiredState:
    """``url``: where the agent may download the bundle over HTTP(S) too ("" for FetchArtifact only)."""
    return control_pb2.DesiredState(
        generation=d.generation,
        variant=common_pb2.VariantRef(variant_id=d.variant_id, model=d.model, recipe=d.recipe),
        artifact=control_pb2.ArtifactInfo(
            sha256=d.bundle_sha256,
            size_bytes=d.bundle_size,
            signature=d.signature,
            signing_key_id=d.key_id,
            format="edgefleet-bundle/1",
            url=url,
        ),
        reason=d.reason,
        trial_seconds=d.trial_seconds,
        runtime=d.runtime,
    )


def _stamp(field: Timestamp, t: float) -> None:
    if t:  # 0: never / not said
        field.FromNanoseconds(int(t * 1e9))


def device_to_pb(d: DeviceRecord, replica: str = "") -> admin_pb2.Device:
    """``replica``: the replica holding its stream, when online."""
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
        phase=PHASE_TO_PB.get(DeploymentPhase(d.phase), common_pb2.DEPLOYMENT_PHASE_UNSPECIFIED)
        if d.phase
        else common_pb2.DEPLOYMENT_PHASE_UNSPECIFIED,
        phase_reason=d.phase_reason,
        replica=replica,
    )
    _stamp(msg.last_seen, d.last_seen)
    _stamp(msg.created, d.created)
    for c in d.conditions:
        item = msg.conditions.add(type=c.type, message=c.message)
        _stamp(item.since, c.since)
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
                state=SLOT_STATE_TO_PB.get(SlotState(s.state), common_pb2.SLOT_STATE_EMPTY),
                reason=s.reason,
            )
            if s.variant_id:
                slot.variant.CopyFrom(common_pb2.VariantRef(variant_id=s.variant_id, recipe=s.recipe))
            _stamp(slot.since, s.since)
        _stamp(msg.slots_reported, r.slots_reported)
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


def conditions_from_pb(items: Sequence[common_pb2.Condition]) -> tuple[Condition, ...]:
    return tuple(
        Condition(c.type[:64], c.message[:500], c.since.ToNanoseconds() / 1e9 if c.HasField("since") else 0.0)
        for c in items[:16]
    )


#: Bitmaps of distinct samples: 8,192 samples at most (a scoring split is a few hundred).
MAX_BITMAP_BYTES = 1024


def _seconds(stamp: Timestamp, name: str, flags: list[str]) -> float:
    """A Timestamp in seconds; one outside protobuf's valid range flags the window instead of failing."""
    try:
        return stamp.ToNanoseconds() / 1e9
    except ValueError:
        flags.append(f"invalid {name} timestamp ({stamp.seconds} s, {stamp.nanos} ns)")
        return 0.0


def window_from_pb(device_id: str, profile: str, w: common_pb2.TelemetryWindow) -> WindowRecord:
    """A window as received; what cannot be taken at face value is flagged (stored, acknowledged, and left
    out of every figure), never an error for the stream."""
    has_energy = w.HasField("energy")
    flags = [f[:300] for f in w.flags[:20]]
    start, end = _seconds(w.start, "start", flags), _seconds(w.end, "end", flags)
    return WindowRecord(
        device_id=device_id,
        profile=profile,
        seq=w.sequence,
        variant_id=w.variant.variant_id[:64],
        model=w.variant.model[:64],
        recipe=w.variant.recipe[:64],
        start=start,
        end=end,
        inferences=w.inferences,
        gross_j=w.energy.gross_joules_per_inference if has_energy else None,
        dynamic_j=w.energy.dynamic_joules_per_inference
        if has_energy and w.energy.HasField("dynamic_joules_per_inference")
        else None,
        sigma_j=w.energy.sigma_joules,
        energy_kind=str(KIND_FROM_PB.get(w.energy.kind, EnergyKind.ESTIMATED)) if has_energy else "",
        energy_method=w.energy.method[:128],
        latency_p50_s=w.latency.p50_seconds,
        latency_p95_s=w.latency.p95_seconds,
        latency_p99_s=w.latency.p99_seconds,
        labelled=w.labelled,
        correct=w.correct,
        cpu_percent=w.cpu_percent,
        rss_bytes=w.rss_bytes,
        temperature_c=w.temperature_celsius if w.HasField("temperature_celsius") else None,
        flags=tuple(flags),
        scored_samples=w.scored_samples[:MAX_BITMAP_BYTES].hex(),
        correct_samples=w.correct_samples[:MAX_BITMAP_BYTES].hex(),
        feedback_labelled=w.feedback_labelled,
        feedback_correct=w.feedback_correct,
        measured_seconds=w.measured_seconds,
        idle_watts=w.idle_watts,
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
    msg.scored_samples = bytes.fromhex(w.scored_samples)
    msg.correct_samples = bytes.fromhex(w.correct_samples)
    msg.feedback_labelled, msg.feedback_correct = w.feedback_labelled, w.feedback_correct
    msg.measured_seconds, msg.idle_watts = w.measured_seconds, w.idle_watts
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
