"""One step of a running rollout: deploy the current wave, watch, decide (see RolloutService)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from edgefleet.orchestrator.rollout.decide import assess_device
from edgefleet.orchestrator.rollout.model import DeviceRolloutState, RolloutRecord
from edgefleet.orchestrator.service.fleet import Assignment

if TYPE_CHECKING:
    from edgefleet.orchestrator.service.rollouts import RolloutService

__all__ = ["roll_back_all", "step"]

_FAILED = ("failed", "rolled_back")


def _set(r: RolloutRecord, device_id: str, state: str, now: float, reason: str = "") -> RolloutRecord:
    devices = dict(r.devices)
    devices[device_id] = DeviceRolloutState(state, now, reason)
    return replace(r, devices=devices)


def roll_back_all(svc: RolloutService, r: RolloutRecord, reason: str, out: list[Assignment]) -> RolloutRecord:
    """Every device the rollout touched goes back to what it ran before (when it ran something)."""
    now = svc._clock()
    for device_id, st in r.devices.items():
        if st.state in ("waiting", "rolled_back", "failed"):
            continue
        previous = r.previous.get(device_id, "")
        if previous:
            out.append(
                svc._assign(
                    svc._fleet.get_device(device_id), previous, f"rollback of {r.rollout_id}: {reason}"
                )
            )
            r = _set(r, device_id, "rolled_back", now, reason)
        else:
            r = _set(r, device_id, "failed", now, f"{reason} (no previous variant to return to)")
    return r


def step(svc: RolloutService, r: RolloutRecord) -> tuple[RolloutRecord, list[Assignment]]:
    now = svc._clock()
    out: list[Assignment] = []
    timing = r.timing
    for wave_index in range(min(r.wave + 1, len(r.waves))):
        for device_id in r.waves[wave_index]:
            st = r.devices[device_id]
            device = svc._fleet.get_device(device_id)
            variant = r.variants[device.profile]
            if st.state == "waiting":
                out.append(svc._assign(device, variant, f"rollout {r.rollout_id} wave {wave_index + 1}"))
                r = _set(r, device_id, "deploying", now)
            elif st.state == "deploying":
                active = device.report.active_variant if device.report else ""
                if device.phase == "failed" and device.desired and device.desired.variant_id == variant:
                    r = _set(r, device_id, "failed", now, f"deployment failed: {device.phase_reason}")
                    svc._event(
                        "rollout.device_failed",
                        f"{device_id}: {device.phase_reason}",
                        r,
                        device_id=device_id,
                        profile=device.profile,
                        variant_id=variant,
                    )
                elif active == variant and device.phase == "committed":
                    r = _set(r, device_id, "analysing", now)
            elif st.state in ("analysing", "passed"):
                policy = r.policies[device.profile]
                windows = [
                    w
                    for w in svc._store.windows(device_id=device_id, variant_id=variant, since=st.since)
                    if w.start >= st.since
                ]
                a = assess_device(windows, policy)
                if a.decision == "rollback" and a.trigger is not None and a.trigger_window is not None:
                    t = a.trigger
                    reason = (
                        f"{t.rule} ({'critical, ' if t.critical else ''}{a.fail_streak} consecutive FAIL)"
                    )
                    svc._event(
                        "rollout.decision",
                        f"{device_id}: roll back: {reason}",
                        r,
                        device_id=device_id,
                        profile=device.profile,
                        variant_id=variant,
                        rule=t.rule,
                        details={
                            "statistics": t.stats,
                            "window": {"seq": a.trigger_window.seq, "end": a.trigger_window.end},
                            "windows": a.counts,
                            "budget": asdict(policy)[
                                "max_energy_joules"
                                if t.metric == "energy"
                                else "max_latency_p95_seconds"
                                if t.metric == "latency"
                                else "accuracy_floor"
                            ],
                            "policy_hash": policy.hash,
                            "critical": t.critical,
                        },
                    )
                    previous = r.previous.get(device_id, "")
                    if previous:
                        out.append(svc._assign(device, previous, f"rollback by {r.rollout_id}: {reason}"))
                    r = _set(r, device_id, "rolled_back" if previous else "failed", now, reason)
                elif a.decision == "passed" and st.state != "passed":
                    r = _set(r, device_id, "passed", st.since, "")
    wave = r.waves[r.wave]
    failing = [d for d in wave if r.devices[d].state in _FAILED]
    if failing and len(failing) / len(wave) > timing.max_failing_share:
        reasons = sorted({r.devices[d].reason for d in failing})
        reason = f"wave {r.wave + 1}: {len(failing)}/{len(wave)} device(s) failed ({'; '.join(reasons)})"
        r = roll_back_all(svc, r, reason, out)
        for profile in sorted({svc._fleet.get_device(d).profile for d in failing}):
            svc._store.block(r.model, profile, r.variants[profile], f"{r.rollout_id}: {reason}", now)
        r = replace(r, state="rolled_back", state_reason=reason, updated=now)
        svc._event(
            "rollout.rolled_back",
            reason,
            r,
            details={"failing": failing, "wave": r.wave + 1, "max_failing_share": timing.max_failing_share},
        )
    elif (
        all(r.devices[d].state in ("passed", *_FAILED) for d in wave)
        and now - r.wave_started >= timing.bake_seconds
    ):
        if r.wave + 1 >= len(r.waves):
            r = replace(r, state="succeeded", state_reason=f"all {len(r.waves)} wave(s) passed", updated=now)
            svc._event("rollout.succeeded", r.state_reason, r)
        else:
            r = replace(r, wave=r.wave + 1, wave_started=now, updated=now)
            svc._event(
                "rollout.promoted", f"wave {r.wave} passed its bake time; starting wave {r.wave + 1}", r
            )
            return _promote(svc, r, out)
    elif now - r.wave_started >= timing.bake_seconds + timing.pause_after_seconds:
        stuck = [d for d in wave if r.devices[d].state not in ("passed", *_FAILED)]
        reason = (
            f"wave {r.wave + 1}: {len(stuck)} device(s) without a verdict (NODATA/INCONCLUSIVE) after "
            f"{now - r.wave_started:.0f} s"
        )
        r = replace(r, state="paused", state_reason=reason, updated=now)
        svc._event("rollout.paused", reason, r, details={"devices": stuck})
    svc._store.put_rollout(replace(r, updated=now))
    return r, out


def _promote(
    svc: RolloutService, r: RolloutRecord, out: list[Assignment]
) -> tuple[RolloutRecord, list[Assignment]]:
    """Deploy the new wave at once (rather than on the next tick)."""
    svc._store.put_rollout(r)
    r, more = step(svc, r)
    return r, out + more
