"""Rollouts and events <-> protobuf (FleetAdmin edge)."""

from __future__ import annotations

import json

from edgefleet.orchestrator.rollout.model import DeviceRolloutState, Event, RolloutRecord, RolloutState
from edgefleet.orchestrator.rollout.policy import Policy
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["event_from_pb", "event_to_pb", "rollout_to_pb", "rollout_view_from_pb"]

_STATES: dict[RolloutState, admin_pb2.RolloutState.ValueType] = {
    "pending": admin_pb2.ROLLOUT_STATE_PENDING,
    "running": admin_pb2.ROLLOUT_STATE_RUNNING,
    "paused": admin_pb2.ROLLOUT_STATE_PAUSED,
    "succeeded": admin_pb2.ROLLOUT_STATE_SUCCEEDED,
    "rolled_back": admin_pb2.ROLLOUT_STATE_ROLLED_BACK,
    "aborted": admin_pb2.ROLLOUT_STATE_ABORTED,
}
_STATES_BACK: dict[int, RolloutState] = {v: k for k, v in _STATES.items()}


def rollout_to_pb(r: RolloutRecord) -> admin_pb2.Rollout:
    timing = r.timing
    msg = admin_pb2.Rollout(
        rollout_id=r.rollout_id,
        model=r.model,
        policy=admin_pb2.RolloutPolicy(
            waves=list(timing.waves),
            bake_seconds=timing.bake_seconds,
            max_failing_share=timing.max_failing_share,
        ),
        policy_hash=",".join(f"{p}:{pol.hash}" for p, pol in sorted(r.policies.items())),
        state=_STATES[r.state],
        wave=r.wave + 1,
        waves_total=len(r.waves),
        state_reason=r.state_reason,
    )
    msg.created.FromNanoseconds(int(r.created * 1e9))
    msg.updated.FromNanoseconds(int(r.updated * 1e9))
    for profile, vid in r.variants.items():
        msg.variants[profile].CopyFrom(common_pb2.VariantRef(variant_id=vid, model=r.model))
    for i, wave in enumerate(r.waves):
        for device_id in wave:
            st = r.devices[device_id]
            msg.devices.add(device_id=device_id, wave=i + 1, state=st.state, reason=st.reason)
    return msg


def rollout_view_from_pb(m: admin_pb2.Rollout) -> RolloutRecord:
    """What the CLI shows; budgets stay on the server (the policy hash names them)."""
    waves: list[list[str]] = [[] for _ in range(m.waves_total)]
    devices = {}
    for d in m.devices:
        waves[d.wave - 1].append(d.device_id)
        devices[d.device_id] = DeviceRolloutState(d.state, 0.0, d.reason)
    timing = Policy(
        accuracy_floor=1.0,
        max_energy_joules=1.0,
        max_latency_p95_seconds=1.0,
        waves=tuple(m.policy.waves) or (1.0,),
        bake_seconds=m.policy.bake_seconds,
        max_failing_share=m.policy.max_failing_share,
    )
    return RolloutRecord(
        rollout_id=m.rollout_id,
        model=m.model,
        policies={"*": timing},
        variants={p: v.variant_id for p, v in m.variants.items()},
        previous={},
        waves=waves,
        wave=m.wave - 1,
        wave_started=0.0,
        state=_STATES_BACK.get(m.state, "pending"),
        state_reason=m.state_reason,
        created=m.created.ToNanoseconds() / 1e9,
        updated=m.updated.ToNanoseconds() / 1e9,
        devices=devices,
    )


def event_to_pb(e: Event) -> admin_pb2.Event:
    msg = admin_pb2.Event(
        event_id=e.event_id,
        kind=e.kind,
        rollout_id=e.rollout_id,
        device_id=e.device_id,
        model=e.model,
        profile=e.profile,
        variant_id=e.variant_id,
        rule=e.rule,
        message=e.message,
        details_json=json.dumps(e.details, sort_keys=True, default=str),
    )
    msg.time.FromNanoseconds(int(e.time * 1e9))
    return msg


def event_from_pb(m: admin_pb2.Event) -> Event:
    return Event(
        kind=m.kind,
        message=m.message,
        time=m.time.ToNanoseconds() / 1e9,
        rollout_id=m.rollout_id,
        device_id=m.device_id,
        model=m.model,
        profile=m.profile,
        variant_id=m.variant_id,
        rule=m.rule,
        details=json.loads(m.details_json or "{}"),
        event_id=m.event_id,
    )
