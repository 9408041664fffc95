"""Benchmark jobs and their reports as frozen domain objects (``connection.wire_benchmark`` converts them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.slots import VariantInfo

__all__ = [
    "DEFAULT_ROUNDS",
    "DEFAULT_TURN_SECONDS",
    "BenchmarkJob",
    "BenchmarkReport",
    "BenchmarkState",
    "Candidate",
    "CandidateResult",
    "EnergyResult",
    "LatencyResult",
]

#: What a job that leaves ``rounds`` or ``turn_seconds`` unset gets.
DEFAULT_ROUNDS = 3
DEFAULT_TURN_SECONDS = 1.0


class BenchmarkState(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self is not BenchmarkState.RUNNING


@dataclass(frozen=True, slots=True)
class Candidate:
    variant: VariantInfo
    artifact: ArtifactSpec


@dataclass(frozen=True, slots=True)
class BenchmarkJob:
    """Measure ``candidates`` on this device (an empty tuple cancels the job ``job_id``)."""

    job_id: str
    candidates: tuple[Candidate, ...]
    #: 0: ``DEFAULT_ROUNDS``.
    rounds: int = 0
    #: 0: ``DEFAULT_TURN_SECONDS``; never shorter than the meter's minimum window.
    turn_seconds: float = 0.0
    #: Seconds from receipt after which the job stops and reports what it has (0: no limit).
    deadline_seconds: float = 0.0
    runtime: str = "litert"
    #: Why the job cannot run as it was sent (bad input found at the edge; reported FAILED, never run).
    problem: str = ""

    @property
    def cancels(self) -> bool:
        return not self.candidates and not self.problem


@dataclass(frozen=True, slots=True)
class EnergyResult:
    """Energy per inference, mean over turns; ``sigma_j``: the standard error over turns of the gross,
    ``dynamic_sigma_j`` of the dynamic figure (None without one)."""

    gross_j: float
    dynamic_j: float | None
    sigma_j: float
    kind: str
    method: str
    dynamic_sigma_j: float | None = None


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """Seconds per inference, over all the candidate's measured inferences."""

    p50_s: float
    p95_s: float
    p99_s: float
    mean_s: float


@dataclass(frozen=True, slots=True)
class CandidateResult:
    variant: VariantInfo
    turns: int = 0
    inferences: int = 0
    energy: EnergyResult | None = None
    latency: LatencyResult | None = None
    peak_rss_bytes: int = 0
    #: Distinct samples of the candidate's scoring split, each scored once.
    scored: int = 0
    correct: int = 0
    #: Why the candidate could not be measured ("" when it was).
    error: str = ""
    #: Serving inferences that ran during this candidate's turns.
    serving_inferences: int = 0
    #: Inferences per second its turns ran at (the device's serving rate; 0: back to back).
    pace_per_second: float = 0.0


@dataclass(frozen=True, slots=True)
class BenchmarkReport:
    job_id: str
    state: BenchmarkState
    reason: str = ""
    results: tuple[CandidateResult, ...] = ()
    #: Candidates finished (measured or failed) of ``total``.
    done: int = 0
    total: int = 0
