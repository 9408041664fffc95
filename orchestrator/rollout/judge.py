"""Judging one device of a rollout on its windows (and against its incumbent): roll it back with the
decision's rule and statistics, or mark it passed with the evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from edgefleet.orchestrator.fleet.model import DeviceRecord, WindowRecord
from edgefleet.orchestrator.rollout.decide import DeviceAssessment, assess_device, incumbent_of
from edgefleet.orchestrator.rollout.model import DevicePhase, RolloutRecord
from edgefleet.orchestrator.rollout.steps import Assign, StepBuilder

__all__ = ["judge"]


def _budget(r: RolloutRecord, profile: str, metric: str) -> float:
    policy = r.policies[profile]
    name = {"energy": "max_energy_joules", "latency": "max_latency_p95_seconds"}.get(metric, "accuracy_floor")
    return float(asdict(policy)[name])


def _evidence(a: DeviceAssessment) -> dict[str, float]:
    """The latest saving against the incumbent, as the device's evidence (shown in rollout status)."""
    for window in reversed(a.windows):
        for v in window.verdicts:
            if v.metric == "saving" and v.status != "NODATA":
                return dict(v.stats)
    return {}


def judge(
    b: StepBuilder,
    device: DeviceRecord,
    variant: str,
    windows: Sequence[WindowRecord],
    incumbent: Sequence[WindowRecord] = (),
) -> None:
    st = b.r.devices[device.device_id]
    policy = b.r.policies[device.profile]
    previous = b.r.previous.get(device.device_id, "")
    before = incumbent_of(incumbent, policy) if previous and previous != variant else None
    a: DeviceAssessment = assess_device([w for w in windows if w.start >= st.since], policy, before)
    if a.decision == "rollback" and a.trigger is not None and a.trigger_window is not None:
        t = a.trigger
        reason = f"{t.rule} ({'critical, ' if t.critical else ''}{a.fail_streak} consecutive FAIL)"
        b.event(
            "rollout.decision",
            f"{device.device_id}: roll back: {reason}",
            device_id=device.device_id,
            profile=device.profile,
            variant_id=variant,
            rule=t.rule,
            details={
                "statistics": t.stats,
                "window": {"seq": a.trigger_window.seq, "end": a.trigger_window.end},
                "windows": a.counts,
                "budget": _budget(b.r, device.profile, t.metric),
                "policy_hash": policy.hash,
                "critical": t.critical,
            },
        )
        if previous:
            b.intents.append(Assign(device.device_id, previous, f"rollback by {b.r.rollout_id}: {reason}"))
        state = DevicePhase.ROLLED_BACK if previous else DevicePhase.FAILED
        b.set(device.device_id, state, reason=reason, evidence=_evidence(a))
    elif a.decision == "passed" and st.state != DevicePhase.PASSED:
        b.set(device.device_id, DevicePhase.PASSED, since=st.since, evidence=_evidence(a))
    elif _evidence(a) != st.evidence:
        b.set(device.device_id, st.state, since=st.since, reason=st.reason, evidence=_evidence(a))
