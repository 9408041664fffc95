"""The agent's only protobuf edge: every conversion between ``edgefleet.v1`` and the agent's domain objects
(the session, downloader, enrolment, renewal and the Inference servicer call these; the rest never sees
protobuf)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

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
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.wire import FAULT_TO_PB, PHASE_TO_PB, SLOT_STATE_TO_PB, energy_pb
from edgefleet.v1 import common_pb2, control_pb2, inference_pb2

__all__ = [
    "MAX_INPUT_BYTES",
    "TENSOR_DTYPES",
    "chunk_from_pb",
    "decode_tensor",
    "enroll_request",
    "enrollment_from_pb",
    "fetch_request",
    "heartbeat_message",
    "hello_message",
    "incoming",
    "predict_response",
    "renew_request",
    "renewed_certificate",
    "status_message",
    "telemetry_message",
    "variant_from_pb",
    "variant_pb",
    "window_bytes",
]

Incoming = DesiredState | TelemetryAck | ServerSettings
TENSOR_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}
MAX_INPUT_BYTES = 16 * 1024 * 1024


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


def telemetry_message(payloads: Sequence[bytes]) -> control_pb2.AgentMessage:
    windows = [common_pb2.TelemetryWindow.FromString(p) for p in payloads]
    return control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=windows))


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


# ---- the local Inference API ----
def decode_tensor(t: inference_pb2.Tensor) -> npt.NDArray[Any]:
    if t.dtype not in TENSOR_DTYPES:
        raise InvalidArgument(f"tensor dtype {t.dtype!r} is not one of {sorted(TENSOR_DTYPES)}")
    if not t.shape or any(d == 0 for d in t.shape):
        raise InvalidArgument(f"tensor shape {list(t.shape)} must be non-empty with no zero dimension")
    itemsize = np.dtype(TENSOR_DTYPES[t.dtype]).itemsize
    expected = math.prod(t.shape) * itemsize
    if expected > MAX_INPUT_BYTES:
        raise InvalidArgument(f"tensor of {expected} bytes exceeds {MAX_INPUT_BYTES} bytes")
    if len(t.data) != expected:
        raise InvalidArgument(
            f"tensor data is {len(t.data)} bytes, shape {list(t.shape)} x {t.dtype} needs {expected}"
        )
    return np.frombuffer(t.data, dtype=TENSOR_DTYPES[t.dtype]).reshape(tuple(t.shape))


def predict_response(
    *,
    request_id: str,
    scores: npt.NDArray[Any],
    classes: Sequence[int],
    labels: Sequence[str],
    variant: VariantInfo,
    latency_s: float,
) -> inference_pb2.PredictResponse:
    out = scores.astype(np.float32)
    return inference_pb2.PredictResponse(
        request_id=request_id,
        scores=inference_pb2.Tensor(shape=list(out.shape), dtype="float32", data=out.tobytes()),
        classes=[int(c) for c in classes],
        labels=[labels[c] if c < len(labels) else str(c) for c in classes],
        variant=variant_pb(variant),
        latency_seconds=latency_s,
    )
