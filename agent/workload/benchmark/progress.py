"""One candidate's progress through a benchmark job, and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.benchmark.figures import Latencies, TurnEnergy, energy_over_turns, latency_of
from edgefleet.agent.workload.benchmark.model import CandidateResult

__all__ = ["CandidateProgress"]


@dataclass
class CandidateProgress:
    """One candidate's progress through the job."""

    variant: VariantInfo
    path: Path | None = None
    scored: int = 0
    correct: int = 0
    error: str = ""
    energies: list[TurnEnergy] = field(default_factory=list)
    latencies: Latencies = field(default_factory=Latencies)
    turns: int = 0
    serving: int = 0
    peak_rss: int = 0
    kind: str = ""
    method: str = ""
    #: The pace of each of its turns (inferences per second; 0: back to back).
    paces: list[float] = field(default_factory=list)

    def result(self) -> CandidateResult:
        return CandidateResult(
            variant=self.variant,
            turns=self.turns,
            inferences=self.latencies.seen,
            energy=energy_over_turns(self.energies, kind=self.kind, method=self.method),
            latency=latency_of(self.latencies.values),
            peak_rss_bytes=self.peak_rss,
            scored=self.scored,
            correct=self.correct,
            error=self.error,
            serving_inferences=self.serving,
            pace_per_second=sum(self.paces) / len(self.paces) if self.paces else 0.0,
        )
