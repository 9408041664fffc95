"""Rollouts and events <-> protobuf (FleetAdmin edge)."""

from __future__ import annotations

import json

from edgefleet.orchestrator.rollout.model import Event, RolloutRecord, RolloutState
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["event_from_pb", "event_to_pb", "rollout_to_pb"]

_STATES: dict[RolloutState, admin_pb2.RolloutState.ValueType] = {
    RolloutState.PENDING: admin_pb2.ROLLOUT_STATE_PENDING,
    RolloutState.RUNNING: admin_pb2.ROLLOUT_STATE_RUNNING,
    RolloutState.PAUSED: admin_pb2.ROLLOUT_STATE_PAUSED,
    RolloutState.SUCCEEDED: admin_pb2.ROLLOUT_STATE_SUCCEEDED,
    RolloutState.ROLLED_BACK: admin_pb2.ROLLOUT_STATE_ROLLED_BACK,
    RolloutState.ABORTED: admin_pb2.ROLLOUT_STATE_ABORTED,
    RolloutState.BENCHMARKING: admin_pb2.ROLLOUT_STATE_BENCHMARKING,
    RolloutState.KEPT: admin_pb2.ROLLOUT_STATE_KEPT,
}


#: RolloutDeviceState field <- the device's saving evidence (rollout/compare.py statistics).
_EVIDENCE = (
    ("incumbent_joules", "incumbent_j"),
    ("candidate_joules", "candidate_j"),
    ("saving", "saving"),
    ("saving_lower", "saving_lower"),
    ("saving_upper", "saving_upper"),
)


def rollout_to_pb(r: RolloutRecord) -> admin_pb2.Rollout:
    timing = r.timing
    msg = admin_pb2.Rollout(
        rollout_id=r.rollout_id,
        model=r.model,
        policy=admin_pb2.RolloutPolicy(
            waves=list(timing.waves),
            bake_seconds=timing.bake_seconds,
            max_failing_share=timing.max_failing_share,
            pause_after_seconds=timing.pause_after_seconds,
        ),
        policy_hash=",".join(f"{p}:{pol.hash}" for p, pol in sorted(r.policies.items())),
        state=_STATES[r.state],
        wave=r.wave + 1,
        waves_total=len(r.waves),
        state_reason=r.state_reason,
        benchmark_jobs=r.benchmarks,
    )
    msg.created.FromNanoseconds(int(r.created * 1e9))
    msg.updated.FromNanoseconds(int(r.updated * 1e9))
    for profile, vid in r.variants.items():
        msg.variants[profile].CopyFrom(common_pb2.VariantRef(variant_id=vid, model=r.model))
    for i, wave in enumerate(r.waves):
        for device_id in wave:
            st = r.devices[device_id]
            row = msg.devices.add(device_id=device_id, wave=i + 1, state=str(st.state), reason=st.reason)
            if st.since:
                row.since.FromNanoseconds(int(st.since * 1e9))
            for field, key in _EVIDENCE:
                if key in st.evidence:
                    setattr(row, field, st.evidence[key])
    return msg


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
