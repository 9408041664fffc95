"""Fleet domain objects (frozen; stored as JSON by the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BundleRecord",
    "Condition",
    "Desired",
    "DeviceRecord",
    "EnrollmentToken",
    "Report",
    "SlotReport",
    "WindowRecord",
]


@dataclass(frozen=True, slots=True)
class Condition:
    """Something that degrades a device without stopping it (reported by the agent, or noted here)."""

    type: str
    message: str
    since: float


@dataclass(frozen=True, slots=True)
class SlotReport:
    name: str
    state: str
    variant_id: str = ""
    recipe: str = ""
    reason: str = ""
    #: When the slot entered its state (the agent's clock; 0: not said).
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class Report:
    """What a device said about itself: its last Hello, updated by each deployment status since."""

    hardware: dict[str, Any]
    runtime_name: str
    runtime_version: str
    active_variant: str = ""
    active_recipe: str = ""
    previous_variant: str = ""
    slots: tuple[SlotReport, ...] = ()
    agent_version: str = ""
    applied_generation: int = 0
    #: When ``slots`` were reported (the Hello, or the last deployment status carrying slots).
    slots_reported: float = 0.0


@dataclass(frozen=True, slots=True)
class Desired:
    """What a device should run; ``generation`` increases with every change."""

    generation: int
    variant_id: str
    model: str
    recipe: str
    base_name: str
    bundle_sha256: str
    bundle_size: int
    signature: bytes
    key_id: str
    reason: str
    trial_seconds: float
    runtime: str


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    device_id: str
    name: str
    profile: str
    labels: dict[str, str]
    secret_hash: str
    created: float
    revoked: bool = False
    last_seen: float = 0.0
    report: Report | None = None
    desired: Desired | None = None
    phase: str = ""
    phase_reason: str = ""
    #: With a failure: whose fault it was ("variant", "device", or "" when the agent did not say).
    phase_fault: str = ""
    bytes_done: int = 0
    bytes_total: int = 0
    online: bool = field(default=False, compare=False)
    #: Live conditions (transient: from the agent's last Hello or heartbeat, and the server's own notes).
    conditions: tuple[Condition, ...] = field(default=(), compare=False)
    #: Set by the store: increments with every write (compare-and-swap between writers); not content,
    #: so records equal in content compare equal whatever their version.
    version: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class EnrollmentToken:
    token_hash: str
    profile: str
    expires: float
    uses_left: int


@dataclass(frozen=True, slots=True)
class BundleRecord:
    variant_id: str
    sha256: str
    size: int
    signature: bytes
    key_id: str


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One telemetry window of one device, as stored (exactly once per (device_id, seq))."""

    device_id: str
    profile: str
    seq: int
    variant_id: str
    model: str
    recipe: str
    start: float
    end: float
    inferences: int
    gross_j: float | None
    dynamic_j: float | None
    sigma_j: float
    energy_kind: str
    energy_method: str
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    labelled: int
    correct: int
    cpu_percent: float
    rss_bytes: int
    temperature_c: float | None
    flags: tuple[str, ...]
    #: Distinct samples of the variant's bundled scoring split scored / classified right in this window:
    #: bitmaps as hex (bit i = sample i, little-endian bit order), "" when the agent sent none.
    scored_samples: str = ""
    correct_samples: str = ""
    #: Late labels from applications (each a distinct sample of its own).
    feedback_labelled: int = 0
    feedback_correct: int = 0
    #: Seconds the meter covered, and the idle power subtracted for the dynamic figure (0: no baseline).
    measured_seconds: float = 0.0
    idle_watts: float = 0.0
