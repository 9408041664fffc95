"""The rollout state machine on its own: records, observations and a clock in, a step out (no I/O)."""

from __future__ import annotations

import dataclasses

from edgefleet.orchestrator.fleet.model import Desired, DeviceRecord, Report, WindowRecord
from edgefleet.orchestrator.rollout.machine import Assign, Block, Observation, advance, needs_windows
from edgefleet.orchestrator.rollout.model import DevicePhase, DeviceRolloutState, RolloutRecord, RolloutState
from edgefleet.orchestrator.rollout.policy import Policy

CANDIDATE, PREVIOUS = "c" * 64, "p" * 64
POLICY = Policy(
    accuracy_floor=0.9, max_energy_joules=1e-3, max_latency_p95_seconds=0.1, waves=(0.0, 1.0), bake_seconds=10
)


def record(n: int = 3, **changes: object) -> RolloutRecord:
    ids = [f"rpi4-{i}" for i in range(n)]
    r = RolloutRecord(
        rollout_id="ro-1",
        model="digits",
        policies={"rpi4": POLICY},
        variants={"rpi4": CANDIDATE},
        previous=dict.fromkeys(ids, PREVIOUS),
        waves=[ids[:1], ids[1:]],
        wave=0,
        wave_started=100.0,
        state=RolloutState.RUNNING,
        state_reason="",
        created=100.0,
        updated=100.0,
        devices={d: DeviceRolloutState() for d in ids},
    )
    return dataclasses.replace(r, **changes)  # type: ignore[arg-type]


def device(
    device_id: str, *, variant: str = PREVIOUS, generation: int = 1, phase: str = "committed"
) -> DeviceRecord:
    desired = Desired(generation, variant, "digits", "r", "w1.0", "s", 1, b"", "k", "", 1.0, "litert")
    report = Report(hardware={}, runtime_name="litert", runtime_version="2", active_variant=variant)
    return DeviceRecord(
        device_id, device_id, "rpi4", {}, "h", 1.0, report=report, desired=desired, phase=phase
    )


def window(seq: int, device_id: str, *, energy: float = 1e-4, correct: int = 290) -> WindowRecord:
    return WindowRecord(
        device_id, "rpi4", seq, CANDIDATE, "digits", "r", 200.0 + seq, 201.0 + seq, 300, energy, energy,
        0.0, "estimated", "estimate:cpu-time", 1e-3, 2e-3, 3e-3, 300, correct, 10.0, 1, None, (),
    )  # fmt: skip


def observe(r: RolloutRecord, **devices: DeviceRecord) -> dict[str, Observation]:
    return {d: Observation(devices.get(d.replace("-", "_"), device(d))) for d in r.devices}


def with_state(r: RolloutRecord, device_id: str, state: DevicePhase, generation: int = 2) -> RolloutRecord:
    devices = dict(r.devices)
    devices[device_id] = DeviceRolloutState(state, 150.0, "", generation)
    return dataclasses.replace(r, devices=devices)


def test_the_first_step_deploys_the_canary_only() -> None:
    r = record()
    step = advance(r, observe(r), 100.0)
    assert step.intents == (Assign("rpi4-0", CANDIDATE, "rollout ro-1 wave 1"),)
    assert step.record.devices["rpi4-0"].state == DevicePhase.DEPLOYING
    assert step.record.devices["rpi4-1"].state == DevicePhase.WAITING
    assert step.events == ()


def test_a_failure_of_another_generation_is_not_this_rollouts() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.DEPLOYING, generation=2)
    stale = device("rpi4-0", variant=CANDIDATE, generation=1, phase="failed")
    step = advance(r, observe(r, rpi4_0=stale), 101.0)
    assert step.record.devices["rpi4-0"].state == DevicePhase.DEPLOYING
    ours = device("rpi4-0", variant=CANDIDATE, generation=2, phase="failed")
    step = advance(r, observe(r, rpi4_0=ours), 101.0)
    assert step.record.devices["rpi4-0"].state == DevicePhase.FAILED
    assert [e.kind for e in step.events] == ["rollout.device_failed", "rollout.rolled_back"]


def test_a_commit_starts_the_analysis_and_judged_devices_need_windows() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.DEPLOYING)
    step = advance(r, observe(r, rpi4_0=device("rpi4-0", variant=CANDIDATE, generation=2)), 120.0)
    assert step.record.devices["rpi4-0"].state == DevicePhase.ANALYSING
    assert needs_windows(step.record) == {"rpi4-0": 120.0}


def test_an_energy_breach_rolls_the_device_back_with_its_statistics() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.ANALYSING)
    windows = tuple(window(s, "rpi4-0", energy=5e-3) for s in range(1, 9))
    obs = observe(r)
    obs["rpi4-0"] = Observation(device("rpi4-0", variant=CANDIDATE, generation=2), windows)
    step = advance(r, obs, 300.0)
    [decision] = [e for e in step.events if e.kind == "rollout.decision"]
    assert decision.rule == "energy.t_lcb_above_budget"
    assert decision.details["budget"] == POLICY.max_energy_joules
    assert decision.details["statistics"]["lcb"] > POLICY.max_energy_joules
    assert Assign("rpi4-0", PREVIOUS, step.intents[0].reason) == step.intents[0]  # type: ignore[union-attr]
    assert Block("rpi4", CANDIDATE, step.intents[1].reason) == step.intents[1]  # type: ignore[union-attr]
    assert step.record.state == RolloutState.ROLLED_BACK


def test_a_passed_canary_promotes_after_its_bake_time_and_deploys_the_next_wave() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.PASSED)
    early = advance(r, observe(r), 105.0)
    assert early.record.wave == 0
    step = advance(r, observe(r), 111.0)
    assert step.record.wave == 1
    assert [e.kind for e in step.events] == ["rollout.promoted"]
    assert {i.device_id for i in step.intents if isinstance(i, Assign)} == {"rpi4-1", "rpi4-2"}


def test_no_verdict_pauses_never_rolls_back() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.ANALYSING)
    step = advance(r, observe(r), 100.0 + POLICY.bake_seconds + POLICY.pause_after_seconds)
    assert step.record.state == RolloutState.PAUSED
    assert not any(isinstance(i, Block | Assign) for i in step.intents)


def test_advance_is_pure() -> None:
    r = record()
    obs = observe(r)
    assert advance(r, obs, 100.0) == advance(r, obs, 100.0)
    assert r == record()  # the input is untouched


def test_a_record_survives_its_json_round_trip() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.DEPLOYING, generation=7)
    assert RolloutRecord.from_json(r.to_json()) == r


def test_a_device_fault_is_retried_not_blamed_on_the_variant() -> None:
    """Issue 15 item 9: power lost on the canary during its trial blocked a healthy variant for the
    profile, with an event whose rule was empty. The device's own faults never fail it."""
    r = with_state(record(), "rpi4-0", DevicePhase.DEPLOYING)
    lost = dataclasses.replace(
        device("rpi4-0", variant=CANDIDATE, generation=2, phase="rolled_back"),
        phase_reason="the agent stopped during the trial (crash or restart)",
        phase_fault="device",
    )
    step = advance(r, observe(r, rpi4_0=lost), 101.0)
    assert step.record.state == RolloutState.RUNNING
    assert step.record.devices["rpi4-0"].state == DevicePhase.DEPLOYING
    assert not any(isinstance(i, Block) for i in step.intents)
    [event] = step.events
    assert (event.kind, event.rule) == ("rollout.device_fault", "deployment.device_fault")
    assert event.details["reason"].startswith("the agent stopped during the trial")
    again = advance(step.record, observe(step.record, rpi4_0=lost), 102.0)
    assert again.events == ()  # the same report is noted once
    # a variant fault fails the device, and the wave's rollback names its rule and evidence
    broken = dataclasses.replace(
        lost, phase="failed", phase_reason="self-test: 40% agreement", phase_fault="variant"
    )
    step = advance(r, observe(r, rpi4_0=broken), 103.0)
    assert [(e.kind, e.rule) for e in step.events] == [
        ("rollout.device_failed", "deployment.variant_fault"),
        ("rollout.rolled_back", "wave.failing_share_exceeded"),
    ]
    assert step.events[1].details["failing"] == {"rpi4-0": "deployment failed: self-test: 40% agreement"}


def test_every_event_carries_a_rule() -> None:
    r = with_state(record(), "rpi4-0", DevicePhase.PASSED)
    promoted = advance(r, observe(r), 111.0)
    paused = advance(with_state(record(), "rpi4-0", DevicePhase.ANALYSING), observe(r), 1e6)
    assert all(e.rule for e in (*promoted.events, *paused.events))
