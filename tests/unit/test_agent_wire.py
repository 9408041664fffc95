"""The agent's protobuf edge: what goes on the wire carries the conditions, the telemetry position, the
fault domain and the labels; what comes in becomes frozen domain objects."""

from __future__ import annotations

from edgefleet.agent.conditions import TELEMETRY_DISK_FULL, Condition
from edgefleet.agent.connection.messages import (
    DeploymentReport,
    DesiredState,
    HeartbeatFacts,
    HelloFacts,
    RuntimeRef,
    ServerSettings,
    TelemetryAck,
)
from edgefleet.agent.connection.wire import (
    enroll_request,
    heartbeat_message,
    hello_message,
    incoming,
    status_message,
)
from edgefleet.agent.hardware import HardwareFacts
from edgefleet.agent.slots import SlotInfo, VariantInfo
from edgefleet.core.enums import DeploymentPhase, FaultDomain, SlotState
from edgefleet.v1 import common_pb2, control_pb2

V = VariantInfo("a" * 64, "digits", "fp32")
HW = HardwareFacts(4, 1 << 30, 1 << 34, "x86_64", "Linux", "")
FULL = Condition(TELEMETRY_DISK_FULL, "outbox.sqlite: the disk refused the write", 1_700_000_000.5)


def test_hello_carries_the_telemetry_position_and_the_conditions() -> None:
    facts = HelloFacts(
        device_id="rpi4-1",
        profile="rpi4",
        hardware=HW,
        runtime=RuntimeRef("ai-edge-litert", "2.3.0"),
        slots=(SlotInfo("a", SlotState.COMMITTED, V), SlotInfo("b")),
        agent_version="0.1.0",
        applied_generation=7,
        active=V,
        previous=None,
        last_telemetry_sequence=1234,
        conditions=(FULL,),
    )
    hello = hello_message(facts).hello
    assert hello.last_telemetry_sequence == 1234
    assert [(c.type, c.message) for c in hello.conditions] == [(FULL.type, FULL.message)]
    assert hello.conditions[0].since.ToNanoseconds() == int(FULL.since * 1e9)
    assert hello.active.variant_id == V.variant_id
    assert not hello.HasField("previous")
    assert [s.state for s in hello.slots] == [common_pb2.SLOT_STATE_COMMITTED, common_pb2.SLOT_STATE_EMPTY]


def test_heartbeat_carries_conditions_and_cumulative_drops() -> None:
    beat = heartbeat_message(HeartbeatFacts(1_700_000_000.0, 12.5, 1 << 20, 40, (FULL,), 18)).heartbeat
    assert (beat.outbox_backlog, beat.windows_dropped) == (40, 18)
    assert [c.type for c in beat.conditions] == [TELEMETRY_DISK_FULL]
    healthy = heartbeat_message(HeartbeatFacts(1_700_000_000.0, 1.0, 1, 0, (), 0)).heartbeat
    assert list(healthy.conditions) == []


def test_every_failure_says_whose_fault_it_is() -> None:
    for phase, fault, wire_phase, wire_fault in (
        (
            DeploymentPhase.FAILED,
            FaultDomain.DEVICE,
            common_pb2.DEPLOYMENT_PHASE_FAILED,
            common_pb2.FAULT_DOMAIN_DEVICE,
        ),
        (
            DeploymentPhase.ROLLED_BACK,
            FaultDomain.VARIANT,
            common_pb2.DEPLOYMENT_PHASE_ROLLED_BACK,
            common_pb2.FAULT_DOMAIN_VARIANT,
        ),
        (
            DeploymentPhase.COMMITTED,
            FaultDomain.UNKNOWN,
            common_pb2.DEPLOYMENT_PHASE_COMMITTED,
            common_pb2.FAULT_DOMAIN_UNSPECIFIED,
        ),
    ):
        report = DeploymentReport(3, V, phase, "why", fault, active=V, runtime=RuntimeRef("litert", "1"))
        status = status_message(report).deployment_status
        assert (status.phase, status.fault, status.reason) == (wire_phase, wire_fault, "why")
        assert status.active.variant_id == V.variant_id


def test_incoming_messages_become_domain_objects() -> None:
    desired = control_pb2.OrchestratorMessage(
        desired_state=control_pb2.DesiredState(
            generation=4,
            variant=common_pb2.VariantRef(variant_id=V.variant_id, model="digits", recipe="fp32"),
            artifact=control_pb2.ArtifactInfo(
                sha256="b" * 64, size_bytes=10, signature=b"s", signing_key_id="k"
            ),
            trial_seconds=2.0,
        )
    )
    ds = incoming(desired)
    assert isinstance(ds, DesiredState)
    assert (ds.generation, ds.variant, ds.runtime, ds.trial_seconds) == (4, V, "litert", 2.0)
    assert ds.artifact.size == 10
    nothing = incoming(control_pb2.OrchestratorMessage(desired_state=control_pb2.DesiredState(generation=5)))
    assert isinstance(nothing, DesiredState)
    assert nothing.variant is None
    ack = control_pb2.OrchestratorMessage(telemetry_ack=control_pb2.TelemetryAck(up_to_sequence=9))
    assert incoming(ack) == TelemetryAck(9, 0.0)
    settings = incoming(
        control_pb2.OrchestratorMessage(config=control_pb2.AgentConfig(telemetry_window_seconds=5))
    )
    assert settings == ServerSettings(window_seconds=5.0, canary_seconds=None)
    assert incoming(control_pb2.OrchestratorMessage()) is None


def test_enrolment_sends_the_labels() -> None:
    request = enroll_request(
        token="t", profile="rpi4", name="n", hardware=HW, labels={"site": "berlin", "rack": "3"}, csr_pem=b""
    )
    assert dict(request.labels) == {"site": "berlin", "rack": "3"}
