"""The rollout state machine, pure: ``advance(record, observations, now) -> Step``.

It reads what devices report (their records and telemetry windows) and returns the next record, the
intents for the service to carry out (assign a variant to a device, block a variant for a profile) and
the events to record. No I/O, no clock, no randomness: the same inputs give the same step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from edgefleet.core.enums import DeploymentPhase, FaultDomain
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.rollout.judge import judge
from edgefleet.orchestrator.rollout.model import DevicePhase, RolloutRecord, RolloutState
from edgefleet.orchestrator.rollout.steps import Assign, Block, Intent, Observation, Step, StepBuilder

__all__ = ["Assign", "Block", "Intent", "Observation", "Step", "advance", "needs_windows", "roll_back_all"]

_DONE = (DevicePhase.FAILED, DevicePhase.ROLLED_BACK)
_JUDGED = (DevicePhase.ANALYSING, DevicePhase.PASSED)


def needs_windows(r: RolloutRecord) -> dict[str, float]:
    """Devices whose telemetry the next step judges, with the time their judging started."""
    return {d: st.since for d, st in r.devices.items() if st.state in _JUDGED}


def _roll_back_devices(b: StepBuilder, reason: str) -> None:
    for device_id, st in b.r.devices.items():
        if st.state in (DevicePhase.WAITING, *_DONE):
            continue
        previous = b.r.previous.get(device_id, "")
        if previous:
            b.intents.append(Assign(device_id, previous, f"rollback of {b.r.rollout_id}: {reason}"))
            b.set(device_id, DevicePhase.ROLLED_BACK, reason=reason)
        else:
            b.set(device_id, DevicePhase.FAILED, reason=f"{reason} (no previous variant to return to)")


def roll_back_all(r: RolloutRecord, reason: str, now: float) -> Step:
    """Every device the rollout touched goes back to what it ran before (when it ran something)."""
    b = StepBuilder(r, now)
    _roll_back_devices(b, reason)
    return b.step()


def _failed(b: StepBuilder, device: DeviceRecord, variant: str, noted: str) -> None:
    """A failed deployment of this rollout's generation. The variant's faults fail the device; the device's
    own (power lost during the trial, a full disk, a refused download) do not: it retries by itself, and a
    wave that never gets a verdict pauses with the reason."""
    details = {"reason": device.phase_reason, "fault": device.phase_fault or "unknown", "phase": device.phase}
    common = {"device_id": device.device_id, "profile": device.profile, "variant_id": variant}
    if device.phase_fault == FaultDomain.DEVICE:
        note = f"device fault, the device retries: {device.phase_reason}"
        if note != noted:  # one event per distinct report
            b.set(
                device.device_id,
                DevicePhase.DEPLOYING,
                since=b.r.devices[device.device_id].since,
                reason=note,
            )
            b.event(
                "rollout.device_fault",
                f"{device.device_id}: {device.phase_reason} (not the variant's fault; retrying)",
                rule="deployment.device_fault",
                details=details,
                **common,
            )
        return
    b.set(device.device_id, DevicePhase.FAILED, reason=f"deployment failed: {device.phase_reason}")
    b.event(
        "rollout.device_failed",
        f"{device.device_id}: {device.phase_reason}",
        rule="deployment.variant_fault",
        details=details,
        **common,
    )


def _watch(b: StepBuilder, obs: Observation, wave_index: int) -> None:
    device = obs.device
    st = b.r.devices[device.device_id]
    variant = b.r.variants[device.profile]
    if st.state == DevicePhase.WAITING:
        b.intents.append(Assign(device.device_id, variant, f"rollout {b.r.rollout_id} wave {wave_index + 1}"))
        b.set(device.device_id, DevicePhase.DEPLOYING)
    elif st.state == DevicePhase.DEPLOYING:
        active = device.report.active_variant if device.report else ""
        ours = device.desired is not None and device.desired.generation == st.generation
        if not ours:
            return  # a report about another deployment (older, or not this rollout's) says nothing here
        if device.phase in (DeploymentPhase.FAILED, DeploymentPhase.ROLLED_BACK):
            _failed(b, device, variant, st.reason)
        elif active == variant and device.phase == "committed":
            b.set(device.device_id, DevicePhase.ANALYSING)
    elif st.state in _JUDGED:
        judge(b, device, variant, obs.windows, obs.incumbent)


def _wave_details(r: RolloutRecord, now: float) -> dict[str, Any]:
    """A wave's state for its events, with each device's measured saving against its incumbent."""
    wave = r.waves[r.wave]
    return {
        "wave": r.wave + 1,
        "devices": len(wave),
        "passed": sum(r.devices[d].state == DevicePhase.PASSED for d in wave),
        "baked_seconds": round(now - r.wave_started, 1),
        "bake_seconds": r.timing.bake_seconds,
        "savings": {d: r.devices[d].evidence for d in wave if r.devices[d].evidence},
    }


def _decide_wave(b: StepBuilder, observations: Mapping[str, Observation]) -> bool:
    """Roll the wave back, promote it, or pause; True when the next wave should start now."""
    r, now = b.r, b.now
    timing = r.timing
    wave = r.waves[r.wave]
    failing = [d for d in wave if r.devices[d].state in _DONE]
    if failing and len(failing) / len(wave) > timing.max_failing_share:
        reasons = sorted({r.devices[d].reason for d in failing})
        reason = f"wave {r.wave + 1}: {len(failing)}/{len(wave)} device(s) failed ({'; '.join(reasons)})"
        _roll_back_devices(b, reason)
        for profile in sorted({observations[d].device.profile for d in failing}):
            b.intents.append(Block(profile, r.variants[profile], f"{r.rollout_id}: {reason}"))
        b.r = replace(b.r, state=RolloutState.ROLLED_BACK, state_reason=reason)
        b.event(
            "rollout.rolled_back",
            reason,
            rule="wave.failing_share_exceeded",
            details={
                "failing": {d: r.devices[d].reason for d in failing},
                "wave": r.wave + 1,
                "failing_share": len(failing) / len(wave),
                "max_failing_share": timing.max_failing_share,
            },
        )
        return False
    settled = all(r.devices[d].state in (DevicePhase.PASSED, *_DONE) for d in wave)
    if settled and now - r.wave_started >= timing.bake_seconds:
        if r.wave + 1 >= len(r.waves):
            b.r = replace(r, state=RolloutState.SUCCEEDED, state_reason=f"all {len(r.waves)} wave(s) passed")
            b.event(
                "rollout.succeeded", b.r.state_reason, rule="wave.all_passed", details=_wave_details(r, now)
            )
            return False
        b.r = replace(r, wave=r.wave + 1, wave_started=now)
        b.event(
            "rollout.promoted",
            f"wave {r.wave + 1} passed its bake time; starting wave {r.wave + 2}",
            rule="wave.passed_and_baked",
            details=_wave_details(r, now),
        )
        return True
    if now - r.wave_started >= timing.bake_seconds + timing.pause_after_seconds:
        stuck = [d for d in wave if r.devices[d].state not in (DevicePhase.PASSED, *_DONE)]
        reason = (
            f"wave {r.wave + 1}: {len(stuck)} device(s) without a verdict (NODATA/INCONCLUSIVE) after "
            f"{now - r.wave_started:.0f} s"
        )
        b.r = replace(r, state=RolloutState.PAUSED, state_reason=reason)
        b.event(
            "rollout.paused",
            reason,
            rule="wave.no_verdict",
            details={
                **_wave_details(r, now),
                "devices": {d: f"{r.devices[d].state}: {r.devices[d].reason}" for d in stuck},
            },
        )
    return False


def advance(r: RolloutRecord, observations: Mapping[str, Observation], now: float) -> Step:
    """One step of a running rollout: deploy the current wave, watch it, judge it, then promote it, pause
    or roll back. ``observations`` holds every device of the rollout (windows only for judged ones)."""
    b = StepBuilder(r, now)
    while True:
        for wave_index in range(min(b.r.wave + 1, len(b.r.waves))):
            for device_id in b.r.waves[wave_index]:
                _watch(b, observations[device_id], wave_index)
        if not _decide_wave(b, observations):
            return b.step()
