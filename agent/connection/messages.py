"""What the agent and the orchestrator say to each other, as frozen domain objects.

``wire`` converts them to and from ``edgefleet.v1`` at the edge; nothing inside the agent sees protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgefleet.agent.conditions import Condition
from edgefleet.agent.hardware import HardwareFacts
from edgefleet.agent.slots import SlotInfo, VariantInfo
from edgefleet.core.enums import DeploymentPhase, FaultDomain

__all__ = [
    "ArtifactSpec",
    "DeploymentReport",
    "DesiredState",
    "Enrollment",
    "HeartbeatFacts",
    "HelloFacts",
    "RuntimeRef",
    "ServerSettings",
    "SigningKey",
    "TelemetryAck",
]


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    """A signed artifact: what the download must match before anything is installed."""

    sha256: str
    size: int
    signature: bytes
    key_id: str
    #: Where else the bytes are: an HTTP(S) URL with range requests ("" : FetchArtifact only).
    url: str = ""


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What the device should run. A higher generation supersedes a lower one."""

    generation: int
    #: None: run nothing new (keep what runs).
    variant: VariantInfo | None
    artifact: ArtifactSpec
    reason: str = ""
    #: Seconds on trial before the commit (0: the agent's default).
    trial_seconds: float = 0.0
    runtime: str = "litert"


@dataclass(frozen=True, slots=True)
class RuntimeRef:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class DeploymentReport:
    """One step of applying a desired state (a DeploymentStatus on the wire)."""

    generation: int
    variant: VariantInfo | None
    phase: DeploymentPhase
    reason: str = ""
    #: With FAILED and ROLLED_BACK: whose fault it was.
    fault: FaultDomain = FaultDomain.UNKNOWN
    done: int = 0
    total: int = 0
    #: What serves after this step (None: nothing).
    active: VariantInfo | None = None
    runtime: RuntimeRef | None = None


@dataclass(frozen=True, slots=True)
class TelemetryAck:
    up_to: int
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Runtime settings the orchestrator pushes (AgentConfig on the wire)."""

    window_seconds: float = 0.0
    #: None: the default (60 s); 0 turns the canary off.
    canary_seconds: float | None = None
    idle_watts: float = 0.0
    active_watts: float = 0.0
    cores: int = 0
    signing_keys: tuple[SigningKey, ...] = ()


@dataclass(frozen=True, slots=True)
class HelloFacts:
    device_id: str
    profile: str
    hardware: HardwareFacts
    runtime: RuntimeRef
    slots: tuple[SlotInfo, ...]
    agent_version: str
    applied_generation: int
    active: VariantInfo | None
    previous: VariantInfo | None
    #: Highest telemetry sequence the agent holds (disk or memory).
    last_telemetry_sequence: int
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class HeartbeatFacts:
    sent_at: float
    cpu_percent: float
    rss_bytes: int
    outbox_backlog: int
    conditions: tuple[Condition, ...]
    #: Windows dropped since the data directory was created (never decreases).
    windows_dropped: int


@dataclass(frozen=True, slots=True)
class Enrollment:
    """The orchestrator's answer to an enrolment."""

    device_id: str
    device_secret: str
    certificate_pem: bytes
    signing_keys: tuple[SigningKey, ...]
