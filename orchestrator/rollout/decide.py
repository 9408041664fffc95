"""Device-level decisions from a device's telemetry windows (pure, table-tested)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.rollout.analysis import (
    Status,
    Verdict,
    accuracy_verdict,
    combine,
    log_bound_verdict,
)
from edgefleet.orchestrator.rollout.policy import Policy

__all__ = ["DeviceAssessment", "WindowAssessment", "assess_device"]


@dataclass(frozen=True, slots=True)
class WindowAssessment:
    seq: int
    end: float
    status: Status
    verdicts: tuple[Verdict, ...]


@dataclass(frozen=True, slots=True)
class DeviceAssessment:
    decision: Literal["rollback", "passed", "pending"]
    #: The verdict that decided a rollback (its rule and statistics).
    trigger: Verdict | None
    trigger_window: WindowAssessment | None
    windows: tuple[WindowAssessment, ...]
    fail_streak: int
    pass_streak: int

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(w.status for w in self.windows))


def assess_device(windows: Sequence[WindowRecord], policy: Policy) -> DeviceAssessment:
    """Walk the windows in order: roll back on ``fail_streak`` consecutive FAILs or one critical breach."""
    d = policy.analysis
    energies: list[float] = []
    p95s: list[float] = []
    out: list[WindowAssessment] = []
    fail_streak = pass_streak = 0
    passed = False
    for w in sorted(windows, key=lambda w: w.seq):
        if w.flags:
            verdicts: tuple[Verdict, ...] = (Verdict("window", "NODATA", "window.flagged", {}),)
        else:
            # the measure the budget judges, never one under the other's name (no baseline: no dynamic figure)
            energy = w.dynamic_j if policy.energy_measure == "dynamic" else w.gross_j
            if w.inferences >= d.min_inferences and energy is not None:
                energies.append(energy)
                p95s.append(w.latency_p95_s)
            verdicts = (
                accuracy_verdict(w.correct, w.labelled, policy.accuracy_floor, d),
                log_bound_verdict("energy", energies, policy.max_energy_joules, d),
                log_bound_verdict("latency", p95s, policy.max_latency_p95_seconds, d),
            )
        status = combine(verdicts)
        assessed = WindowAssessment(w.seq, w.end, status, verdicts)
        out.append(assessed)
        fail_streak = fail_streak + 1 if status == "FAIL" else 0
        pass_streak = pass_streak + 1 if status == "PASS" else 0
        failing = [v for v in verdicts if v.status == "FAIL"]
        critical = next((v for v in failing if v.critical), None)
        if critical is not None or fail_streak >= d.fail_streak:
            trigger = critical or failing[0]
            return DeviceAssessment("rollback", trigger, assessed, tuple(out), fail_streak, pass_streak)
        passed = passed or pass_streak >= d.pass_streak
    return DeviceAssessment(
        "passed" if passed else "pending", None, None, tuple(out), fail_streak, pass_streak
    )
