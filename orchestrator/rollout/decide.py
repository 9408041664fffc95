"""Device-level decisions from a device's telemetry windows (pure, table-tested)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from edgefleet.core.samples import count, intersect, union
from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.rollout.analysis import (
    AnalysisDefaults,
    Status,
    Verdict,
    accuracy_verdict,
    combine,
    log_bound_verdict,
)
from edgefleet.orchestrator.rollout.compare import paired_accuracy_verdict, saving_verdict
from edgefleet.orchestrator.rollout.policy import Policy

__all__ = ["DeviceAssessment", "Incumbent", "WindowAssessment", "assess_device", "incumbent_of"]


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


@dataclass(frozen=True, slots=True)
class Incumbent:
    """What the device ran before the rollout, as it measured there (its windows before the rollout began)."""

    energies: tuple[float, ...]
    scored: bytes
    right: bytes


def _energy(w: WindowRecord, policy: Policy) -> float | None:
    """The measure the budget judges, never one under the other's name (no baseline: no dynamic figure)."""
    if w.flags or w.inferences < policy.analysis.min_inferences:
        return None
    return w.dynamic_j if policy.energy_measure == "dynamic" else w.gross_j


def incumbent_of(windows: Sequence[WindowRecord], policy: Policy) -> Incumbent:
    ordered = sorted(windows, key=lambda w: w.seq)
    scored = right = b""
    for w in ordered:
        if not w.flags:
            scored, right = (
                union(scored, bytes.fromhex(w.scored_samples)),
                union(right, bytes.fromhex(w.correct_samples)),
            )
    energies = tuple(e for e in (_energy(w, policy) for w in ordered) if e is not None)
    return Incumbent(energies, scored, right)


class _Cumulative:
    """Accuracy since the rollout began on this device: distinct samples of the scoring split (each once,
    however often replayed) plus application feedback; windows from agents that send no sample bitmaps count
    their labelled inferences as before."""

    def __init__(self) -> None:
        self.scored = self.right = b""
        self.feedback = self.feedback_right = 0
        self.legacy = self.legacy_right = 0

    def add(self, w: WindowRecord) -> None:
        if w.scored_samples:
            self.scored = union(self.scored, bytes.fromhex(w.scored_samples))
            self.right = union(self.right, bytes.fromhex(w.correct_samples))
        else:
            self.legacy, self.legacy_right = self.legacy + w.labelled, self.legacy_right + w.correct
        self.feedback, self.feedback_right = (
            self.feedback + w.feedback_labelled,
            self.feedback_right + w.feedback_correct,
        )

    @property
    def counts(self) -> tuple[int, int]:
        n = count(self.scored) + self.feedback + self.legacy
        c = count(intersect(self.right, self.scored)) + self.feedback_right + self.legacy_right
        return c, n


def _promotable(v: Verdict, d: AnalysisDefaults) -> Verdict:
    """With ``accuracy_promote = "enough-samples"`` an interval that spans the floor, on at least n_min
    samples, lets the device pass (recorded under its own rule); a breach still fails it."""
    if v.status == "INCONCLUSIVE" and d.accuracy_promote == "enough-samples":
        return Verdict(v.metric, "PASS", "accuracy.enough_samples_no_breach", v.stats)
    return v


def _verdicts(
    w: WindowRecord,
    policy: Policy,
    acc: _Cumulative,
    energies: list[float],
    p95s: list[float],
    inc: Incumbent | None,
) -> tuple[Verdict, ...]:
    d = policy.analysis
    if w.flags:
        return (Verdict("window", "NODATA", "window.flagged", {}),)
    acc.add(w)
    energy = _energy(w, policy)
    if energy is not None:
        energies.append(energy)
        p95s.append(w.latency_p95_s)
    c, n = acc.counts
    out = [
        _promotable(accuracy_verdict(c, n, policy.accuracy_floor, d), d),
        log_bound_verdict("energy", energies, policy.max_energy_joules, d),
        log_bound_verdict("latency", p95s, policy.max_latency_p95_seconds, d),
    ]
    if inc is not None:
        if policy.require_saving:
            out.append(saving_verdict(energies, inc.energies, policy.min_saving, d))
        guard = paired_accuracy_verdict(
            acc.scored, acc.right, inc.scored, inc.right, policy.max_accuracy_drop, d
        )
        if guard.status == "FAIL":  # a guard: it fails a window, it never holds one back
            out.append(guard)
    return tuple(out)


def assess_device(
    windows: Sequence[WindowRecord], policy: Policy, incumbent: Incumbent | None = None
) -> DeviceAssessment:
    """Walk the windows since the rollout began, in order: roll back on ``fail_streak`` consecutive FAILs
    or one critical breach; passed after ``pass_streak`` consecutive PASSes. With an ``incumbent`` (what the
    device ran before) the candidate must also show its energy saving there, and not lose accuracy."""
    d = policy.analysis
    energies: list[float] = []
    p95s: list[float] = []
    acc = _Cumulative()
    out: list[WindowAssessment] = []
    fail_streak = pass_streak = 0
    passed = False
    for w in sorted(windows, key=lambda w: w.seq):
        verdicts = _verdicts(w, policy, acc, energies, p95s, incumbent)
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
