"""What the admin client returns about devices, rollouts and telemetry: views of what the server said,
with nothing made up (a field the server did not send is None, never a placeholder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BenchmarkCandidateView",
    "BenchmarkResultView",
    "BenchmarkView",
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
    #: When the device last reported its slots (None: never).
    slots_reported: float | None = None
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
    #: Measured on the device against what it ran before: energy per inference, and the saving
    #: (1 - candidate / incumbent) with its 95 % interval; None until measured.
    incumbent_j: float | None = None
    candidate_j: float | None = None
    saving: float | None = None
    saving_lower: float | None = None
    saving_upper: float | None = None


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
    #: A wave without a verdict this long after its bake pauses the rollout.
    pause_after_seconds: float = 0.0
    policy_hash: str = ""
    #: profile -> the benchmark job that measured its candidates before the choice
    benchmark_jobs: dict[str, str] = field(default_factory=dict)

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
    #: Energy per inference under ``measure`` (what the profile's budget judges) and its standard error.
    energy_j: float
    energy_sigma_j: float
    measure: str
    #: Both measures; None where no window carried it (no dynamic figure without an idle baseline).
    gross_j: float | None
    dynamic_j: float | None
    energy_kind: str
    energy_methods: tuple[str, ...]
    latency_p95_s: float
    #: Distinct scoring-split samples scored on devices, and right; application feedback apart.
    scored: int
    correct: int
    feedback_labelled: int
    feedback_correct: int
    #: Measured / estimated energy; None when the server has no estimate to compare with.
    correction: float | None = None


@dataclass(frozen=True, slots=True)
class BenchmarkCandidateView:
    variant_id: str
    recipe: str
    why: str
    #: The plan's estimate when the job started (what the measurement is compared with), and its kind.
    estimated_energy_j: float
    estimated_latency_s: float
    estimate_kind: str


@dataclass(frozen=True, slots=True)
class BenchmarkResultView:
    device_id: str
    variant_id: str
    turns: int
    inferences: int
    gross_j: float | None
    dynamic_j: float | None
    sigma_j: float
    energy_kind: str
    energy_method: str
    latency_p50_s: float
    latency_p95_s: float
    peak_rss_bytes: int
    scored: int
    correct: int
    error: str
    serving_inferences: int
    dynamic_sigma_j: float | None = None
    #: Inferences per second its turns ran at: the device's serving rate (0: back to back).
    pace_per_second: float = 0.0


@dataclass(frozen=True, slots=True)
class BenchmarkView:
    job_id: str
    model: str
    profile: str
    #: "open", "done" or "cancelled".
    state: str
    reason: str
    created: float | None
    rounds: int
    turn_seconds: float
    deadline_seconds: float
    candidates: tuple[BenchmarkCandidateView, ...]
    #: (device id, its state: "" until it reported, running, done, failed, cancelled; its reason)
    devices: tuple[tuple[str, str, str], ...]
    results: tuple[BenchmarkResultView, ...]
