"""What the admin client returns about devices, rollouts and telemetry: views of what the server said,
with nothing made up (a field the server did not send is None, never a placeholder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConditionView",
    "DeviceView",
    "RolloutDeviceView",
    "RolloutView",
    "SlotView",
    "TelemetryView",
    "VariantRefView",
]


@dataclass(frozen=True, slots=True)
class VariantRefView:
    variant_id: str
    model: str = ""
    recipe: str = ""

    @property
    def short(self) -> str:
        return f"{self.variant_id[:12]}{' ' + self.recipe if self.recipe else ''}"


@dataclass(frozen=True, slots=True)
class SlotView:
    name: str
    state: str
    variant: VariantRefView | None
    reason: str
    since: float | None


@dataclass(frozen=True, slots=True)
class ConditionView:
    type: str
    message: str
    since: float | None


@dataclass(frozen=True, slots=True)
class DeviceView:
    device_id: str
    name: str
    profile: str
    labels: dict[str, str]
    #: "online", "offline" or "revoked".
    status: str
    created: float | None
    last_seen: float | None
    #: Last deployment status reported ("" when none) and its reason.
    phase: str
    phase_reason: str
    #: With a failure: "variant", "device", or "" when the agent did not say.
    phase_fault: str
    active: VariantRefView | None
    previous: VariantRefView | None
    desired: VariantRefView | None
    desired_generation: int
    applied_generation: int
    runtime_name: str
    runtime_version: str
    agent_version: str
    hardware: dict[str, Any]
    slots: tuple[SlotView, ...]
    conditions: tuple[ConditionView, ...] = ()
    #: Online: the orchestrator replica that holds its stream.
    replica: str = ""

    @property
    def runtime(self) -> str:
        return f"{self.runtime_name} {self.runtime_version}".strip()


@dataclass(frozen=True, slots=True)
class RolloutDeviceView:
    device_id: str
    wave: int
    state: str
    reason: str
    since: float | None


@dataclass(frozen=True, slots=True)
class RolloutView:
    rollout_id: str
    model: str
    state: str
    state_reason: str
    #: Current wave, 1-based, of ``waves_total``.
    wave: int
    waves_total: int
    variants: dict[str, str]
    devices: tuple[RolloutDeviceView, ...]
    created: float | None
    updated: float | None
    wave_fractions: tuple[float, ...] = ()
    bake_seconds: float = 0.0
    max_failing_share: float = 0.0
    policy_hash: str = ""

    @property
    def waves(self) -> list[list[str]]:
        out: list[list[str]] = [[] for _ in range(self.waves_total)]
        for d in self.devices:
            out[d.wave - 1].append(d.device_id)
        return out


@dataclass(frozen=True, slots=True)
class TelemetryView:
    """Measured figures of one variant on one profile, as the server aggregates them."""

    profile: str
    variant_id: str
    recipe: str
    windows: int
    devices: int
    inferences: int
    energy_j: float
    energy_sigma_j: float
    energy_kind: str
    energy_methods: tuple[str, ...]
    latency_p95_s: float
    labelled: int
    correct: int
    #: Measured / estimated energy; None when the server has no estimate to compare with.
    correction: float | None = None
