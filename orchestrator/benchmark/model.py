"""Benchmark jobs and their results (frozen; stored as JSON)."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from edgefleet.core.errors import InvalidArgument

__all__ = ["BenchmarkJob", "BenchmarkResult", "BenchmarkSettings", "DeviceReport", "JobState"]

#: What a device may say of a job (the proto's BenchmarkState names, lower case).
REPORT_STATES = ("running", "done", "failed", "cancelled")


class JobState(enum.StrEnum):
    OPEN = "open"  # sent to its devices, results coming in
    DONE = "done"  # every device reported (or the deadline passed)
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class BenchmarkSettings:
    """How a job measures: candidates besides the Pareto front (top K), canaries, interleaved rounds, the
    length of one candidate's turn, and the job's time budget on a device."""

    top_k: int = 3
    devices: int = 1
    rounds: int = 5
    turn_seconds: float = 2.0
    deadline_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not (1 <= self.top_k <= 50 and 1 <= self.devices <= 100 and 1 <= self.rounds <= 100):
            raise InvalidArgument("benchmark top_k must be 1-50, devices 1-100, rounds 1-100")
        if not (0.1 <= self.turn_seconds <= 600 and 1 <= self.deadline_seconds <= 86400):
            raise InvalidArgument("benchmark turn_seconds must be 0.1-600 and deadline_seconds 1-86400")


@dataclass(frozen=True, slots=True)
class BenchmarkJob:
    job_id: str
    model: str
    profile: str
    #: Variant ids to measure, and why each was chosen (pareto, top-k, float32 base, incumbent).
    candidates: tuple[str, ...]
    why: dict[str, str]
    devices: tuple[str, ...]
    rounds: int
    turn_seconds: float
    deadline_seconds: float
    created: float
    state: JobState = JobState.OPEN
    reason: str = ""
    #: Per device: its last reported state ("" until it reported) and the reason it gave.
    device_states: dict[str, str] = field(default_factory=dict)
    device_reasons: dict[str, str] = field(default_factory=dict)
    #: The plan's figures per candidate when the job started: energy_j, latency_s, kind.
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BenchmarkJob:
        doc: dict[str, Any] = json.loads(text)
        doc["candidates"], doc["devices"] = tuple(doc["candidates"]), tuple(doc["devices"])
        return replace(cls(**doc), state=JobState(doc["state"]))


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    """One candidate measured on one device (interleaved turns of one length, in a scratch slot)."""

    job_id: str
    device_id: str
    profile: str
    model: str
    variant_id: str
    turns: int
    inferences: int
    #: Energy per inference, mean over turns, sigma = standard error over turns; None where not reported.
    gross_j: float | None
    dynamic_j: float | None
    sigma_j: float
    energy_kind: str
    energy_method: str
    latency_p50_s: float
    latency_p95_s: float
    peak_rss_bytes: int
    #: Distinct samples of the scoring split scored once each, and right.
    scored: int
    correct: int
    error: str = ""
    serving_inferences: int = 0
    reported: float = 0.0
    #: Inferences per second its turns ran at: the device's serving rate (0: back to back, nothing served).
    pace_per_second: float = 0.0
    #: Standard error of the dynamic figure over turns (None: not reported apart from ``sigma_j``).
    dynamic_sigma_j: float | None = None

    def sigma(self, measure: str) -> float:
        """The standard error of the figure under ``measure``."""
        if measure == "dynamic" and self.dynamic_sigma_j is not None:
            return self.dynamic_sigma_j
        return self.sigma_j

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BenchmarkResult:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """A BenchmarkReport as a domain object: a device's state for a job and what it measured so far."""

    job_id: str
    state: str
    reason: str
    results: tuple[BenchmarkResult, ...]
    done: int
    total: int
