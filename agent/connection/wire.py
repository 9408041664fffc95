"""The agent's protobuf edge for FleetControl: every conversion between ``edgefleet.v1`` and the agent's
domain objects (the session, downloader, enrolment and renewal call these; benchmark jobs and reports are in
``wire_benchmark``, the local Inference API's tensors in ``workload.predict``; the rest never sees
protobuf)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgefleet.agent.conditions import Condition
from edgefleet.agent.connection.messages import (
    ArtifactSpec,
    DeploymentReport,
    DesiredState,
    Enrollment,
    HeartbeatFacts,
    HelloFacts,
    RuntimeRef,
    ServerSettings,
    SigningKey,
    TelemetryAck,
)
from edgefleet.agent.hardware import HardwareFacts
from edgefleet.agent.slots import SlotInfo, VariantInfo
from edgefleet.agent.telemetry.windows import Window
from edgefleet.core.enums import SlotState
from edgefleet.core.wire import FAULT_TO_PB, PHASE_TO_PB, SLOT_STATE_TO_PB, energy_pb
from edgefleet.v1 import common_pb2, control_pb2

__all__ = [
    "chunk_from_pb",
    "enroll_request",
    "enrollment_from_pb",
    "fetch_request",
    "heartbeat_message",
    "hello_message",
    "incoming",
    "renew_request",
    "renewed_certificate",
    "status_message",
    "telemetry_message",
    "variant_from_pb",
    "variant_pb",
    "window_bytes",
]

Incoming = DesiredState | TelemetryAck | ServerSettings


# ---- shared pieces ----
def variant_pb(v: VariantInfo) -> common_pb2.VariantRef:
    return common_pb2.VariantRef(variant_id=v.variant_id, model=v.model, recipe=v.recipe)


def variant_from_pb(ref: common_pb2.VariantRef, base_name: str = "") -> VariantInfo:
    return VariantInfo(ref.variant_id, ref.model, ref.recipe, base_name)


def _slot_pb(s: SlotInfo) -> common_pb2.Slot:
    msg = common_pb2.Slot(
        name=common_pb2.SLOT_NAME_A if s.name == "a" else common_pb2.SLOT_NAME_B,
        state=SLOT_STATE_TO_PB[SlotState(s.state)],
        reason=s.reason,
    )
    if s.variant is not None:
        msg.variant.CopyFrom(variant_pb(s.variant))
    if s.since:
        msg.since.FromNanoseconds(int(s.since * 1e9))
    return msg


def _hardware_pb(h: HardwareFacts) -> common_pb2.HardwareFacts:
    return common_pb2.HardwareFacts(
        cpu_count=h.cpu_count,
        memory_bytes=h.memory_bytes,
        storage_bytes=h.storage_bytes,
        machine=h.machine,
        platform=h.platform,
        board=h.board,
    )


def _conditions_pb(conditions: Sequence[Condition]) -> list[common_pb2.Condition]:
    out = []
    for c in conditions:
        msg = common_pb2.Condition(type=c.type, message=c.message)
        msg.since.FromNanoseconds(int(c.since * 1e9))
        out.append(msg)
    return out


def _runtime_pb(r: RuntimeRef) -> common_pb2.RuntimeInfo:
    return common_pb2.RuntimeInfo(name=r.name, version=r.version)


# ---- agent -> orchestrator ----
def hello_message(h: HelloFacts) -> control_pb2.AgentMessage:
    hello = control_pb2.Hello(
        device_id=h.device_id,
        profile=h.profile,
        hardware=_hardware_pb(h.hardware),
        runtime=_runtime_pb(h.runtime),
        slots=[_slot_pb(s) for s in h.slots],
        agent_version=h.agent_version,
        applied_generation=h.applied_generation,
        last_telemetry_sequence=h.last_telemetry_sequence,
        conditions=_conditions_pb(h.conditions),
    )
    if h.active is not None:
        hello.active.CopyFrom(variant_pb(h.active))
    if h.previous is not None:
        hello.previous.CopyFrom(variant_pb(h.previous))
    return control_pb2.AgentMessage(hello=hello)


def heartbeat_message(b: HeartbeatFacts) -> control_pb2.AgentMessage:
    beat = control_pb2.Heartbeat(
        cpu_percent=b.cpu_percent,
        rss_bytes=b.rss_bytes,
        outbox_backlog=b.outbox_backlog,
        conditions=_conditions_pb(b.conditions),
        windows_dropped=b.windows_dropped,
    )
    beat.sent_at.FromNanoseconds(int(b.sent_at * 1e9))
    return control_pb2.AgentMessage(heartbeat=beat)


def status_message(r: DeploymentReport) -> control_pb2.AgentMessage:
    status = control_pb2.DeploymentStatus(
        generation=r.generation,
        phase=PHASE_TO_PB[r.phase],
        reason=r.reason,
        bytes_done=r.done,
        bytes_total=r.total,
        fault=FAULT_TO_PB[r.fault],
    )
    if r.variant is not None:
        status.variant.CopyFrom(variant_pb(r.variant))
    if r.active is not None:
        status.active.CopyFrom(variant_pb(r.active))
    if r.runtime is not None:
        status.runtime.CopyFrom(_runtime_pb(r.runtime))
    return control_pb2.AgentMessage(deployment_status=status)


def window_bytes(w: Window, seq: int) -> bytes:
    """A closed window as stored in the outbox (a serialized TelemetryWindow with its sequence)."""
    msg = common_pb2.TelemetryWindow(
        sequence=seq,
        inferences=w.inferences,
        latency=common_pb2.LatencySummary(
            p50_seconds=w.latency_p50_s,
            p95_seconds=w.latency_p95_s,
            p99_seconds=w.latency_p99_s,
            mean_seconds=w.latency_mean_s,
        ),
        labelled=w.labelled,
        correct=w.correct,
        cpu_percent=w.cpu_percent,
        rss_bytes=w.rss_bytes,
        flags=list(w.flags),
        scored_samples=w.coverage.scored,
        correct_samples=w.coverage.correct,
        feedback_labelled=w.feedback_labelled,
        feedback_correct=w.feedback_correct,
        measured_seconds=w.measured_seconds,
        idle_watts=w.idle_watts,
    )
    if w.variant is not None:
        msg.variant.CopyFrom(variant_pb(w.variant))
    msg.start.FromNanoseconds(int(w.start * 1e9))
    msg.end.FromNanoseconds(int(w.end * 1e9))
    if w.gross_j is not None:
        msg.energy.CopyFrom(energy_pb(w.gross_j, w.dynamic_j, w.sigma_j, w.energy_kind, w.energy_method))
    if w.temperature_c is not None:
        msg.temperature_celsius = w.temperature_c
    return msg.SerializeToString()


def telemetry_message(payloads: Sequence[bytes], dropped_through: int = 0) -> control_pb2.AgentMessage:
    """A batch of stored windows; ``dropped_through``: every window up to it not sent yet never will be."""
    windows = [common_pb2.TelemetryWindow.FromString(p) for p in payloads]
    batch = control_pb2.TelemetryBatch(windows=windows, dropped_through_sequence=dropped_through)
    return control_pb2.AgentMessage(telemetry=batch)


# ---- orchestrator -> agent ----
def _keys(keys: Any) -> tuple[SigningKey, ...]:
    return tuple(SigningKey(k.key_id, bytes(k.public_key)) for k in keys)


def incoming(msg: control_pb2.OrchestratorMessage) -> Incoming | None:
    """One message of the stream as a domain object (None: a kind this agent does not know)."""
    kind = msg.WhichOneof("body")
    if kind == "desired_state":
        ds = msg.desired_state
        a = ds.artifact
        return DesiredState(
            generation=ds.generation,
            variant=variant_from_pb(ds.variant) if ds.HasField("variant") and ds.variant.variant_id else None,
            artifact=ArtifactSpec(a.sha256, a.size_bytes, bytes(a.signature), a.signing_key_id, a.url),
            reason=ds.reason,
            trial_seconds=ds.trial_seconds,
            runtime=ds.runtime or "litert",
        )
    if kind == "telemetry_ack":
        return TelemetryAck(msg.telemetry_ack.up_to_sequence, msg.telemetry_ack.retry_after_seconds)
    if kind == "config":
        c = msg.config
        return ServerSettings(
            window_seconds=c.telemetry_window_seconds,
            canary_seconds=c.canary_interval_seconds if c.HasField("canary_interval_seconds") else None,
            idle_watts=c.idle_watts,
            active_watts=c.active_watts,
            cores=c.cores,
            signing_keys=_keys(c.signing_keys),
        )
    return None


# ---- enrolment, renewal, download ----
def enroll_request(
    *,
    token: str,
    profile: str,
    name: str,
    hardware: HardwareFacts,
    labels: Mapping[str, str],
    csr_pem: bytes,
) -> control_pb2.EnrollRequest:
    return control_pb2.EnrollRequest(
        token=token,
        profile=profile,
        name=name,
        hardware=_hardware_pb(hardware),
        labels=dict(labels),
        csr_pem=csr_pem,
    )


def enrollment_from_pb(reply: control_pb2.EnrollResponse) -> Enrollment:
    return Enrollment(reply.device_id, reply.device_secret, reply.certificate_pem, _keys(reply.signing_keys))


def renew_request(csr_pem: bytes) -> control_pb2.RenewCertificateRequest:
    return control_pb2.RenewCertificateRequest(csr_pem=csr_pem)


def renewed_certificate(reply: control_pb2.RenewCertificateResponse) -> bytes:
    return bytes(reply.certificate_pem)


def fetch_request(spec: ArtifactSpec, offset: int, chunk_bytes: int) -> control_pb2.FetchArtifactRequest:
    return control_pb2.FetchArtifactRequest(sha256=spec.sha256, offset=offset, max_chunk_bytes=chunk_bytes)


def chunk_from_pb(chunk: control_pb2.ArtifactChunk) -> tuple[int, bytes]:
    """(offset, data) of one artifact chunk."""
    return chunk.offset, chunk.data
