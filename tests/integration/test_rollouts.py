"""Rollouts in waves with real agents: a budget breach rolls back with its statistics; a healthy one succeeds."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    committed,
    orchestrator_in_process,
    variant_id,
    wait_for,
)


async def fleet_on_previous(
    server: OrchestratorServer, stack: AsyncExitStack, tmp_path: Path, n: int
) -> list[Any]:
    token = server.services.identity.create_token(uses=n)[0]
    agents = [
        await stack.enter_async_context(
            agent_in_process(agent_config(server, tmp_path / f"a{i}", "rpi4", token, replay_rate=300.0))
        )
        for i in range(n)
    ]
    for a in agents:
        await wait_for(a.connected.is_set, what="connection")
    previous = variant_id(server, "w1.0", "fp32")
    server.push(server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=previous))
    for a in agents:
        await wait_for(lambda a=a: committed(a, previous), what="previous committed")
    return agents


#: Budgets the reference variants meet on this host. These tests are about waves, restarts and rollbacks:
#: the candidate (static int8) saves nothing over float32 on this host's kernels, and the incumbent has no
#: windows to compare with, so the saving requirement is off here (its own tests measure the incumbent).
HEALTHY = {
    "max_energy_joules": 1.0,
    "max_latency_p95_seconds": 1.0,
    "accuracy_floor": 0.9,
    "require_saving": False,
}


def start_candidate(server: OrchestratorServer, **overrides: Any) -> tuple[Any, str]:
    """Roll w1.0 static_wi8_ai8 out to rpi4 with these policy overrides; desired states pushed."""
    candidate = variant_id(server, "w1.0", "static_wi8_ai8")
    rollout, assignments = server.services.rollouts.start(
        model="digits", profiles=["rpi4"], variants={"rpi4": candidate}, overrides=overrides
    )
    server.push(assignments)
    return rollout, candidate


async def test_an_energy_breach_rolls_back_every_targeted_device(template: Path, tmp_path: Path) -> None:
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=0.3) as server,
        AsyncExitStack() as stack,
    ):
        agents = await fleet_on_previous(server, stack, tmp_path, 2)
        previous = variant_id(server, "w1.0", "fp32")
        svc = server.services.rollouts
        rollout, candidate = start_candidate(
            server, max_energy_joules=1e-5, waves=(0.0, 1.0), bake_seconds=0.5, accuracy_floor=0.5
        )
        await wait_for(
            lambda: svc.get(rollout.rollout_id).state == "rolled_back", what="rollback", timeout=40
        )
        for a in agents:  # every targeted device serves the previous variant again
            await wait_for(lambda a=a: committed(a, previous), what="back on the previous variant")
        final = svc.get(rollout.rollout_id)
        assert "device(s) failed" in final.state_reason
        [decision] = svc.events(kind="rollout.decision", rollout_id=rollout.rollout_id)
        assert decision.rule == "energy.t_lcb_above_budget"
        stats = decision.details["statistics"]
        assert stats["lcb"] > stats["budget"] == 1e-5
        assert stats["k"] == 5
        assert decision.details["budget"] == 1e-5
        assert decision.details["policy_hash"] == final.policies["rpi4"].hash
        assert svc.events(kind="rollout.rolled_back", rollout_id=rollout.rollout_id)
        # the variant is blocked for rpi4 until unblocked, and the plan says why
        plan = server.services.plans.plan("digits", ["rpi4"])[0]
        reasons = next(c.reasons for c in plan.candidates if c.variant.variant_id == candidate)
        assert any(r.startswith("rolled back: ") for r in reasons)
        server.services.rollbacks.unblock("digits", "rpi4", candidate)
        plan = server.services.plans.plan("digits", ["rpi4"])[0]
        assert not any(r.startswith("rolled back") for c in plan.candidates for r in c.reasons)


async def test_a_healthy_rollout_goes_through_its_waves(template: Path, tmp_path: Path) -> None:
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=0.5) as server,
        AsyncExitStack() as stack,
    ):
        agents = await fleet_on_previous(server, stack, tmp_path, 2)
        svc = server.services.rollouts
        rollout, candidate = start_candidate(server, **HEALTHY, waves=(0.0, 1.0), bake_seconds=0.5)
        assert [len(w) for w in rollout.waves] == [1, 1]
        # windows must hold n_min labelled samples for an accuracy verdict (98 at a 0.9 floor): 0.5 s at 300/s
        await wait_for(lambda: svc.get(rollout.rollout_id).state == "succeeded", what="success", timeout=60)
        for a in agents:
            assert committed(a, candidate)
        kinds = [e.kind for e in svc.events(rollout_id=rollout.rollout_id)]
        assert kinds[0] == "rollout.started"
        assert "rollout.promoted" in kinds
        assert kinds[-1] == "rollout.succeeded"


async def test_an_orchestrator_restart_resumes_the_rollout_at_the_same_wave(
    template: Path, tmp_path: Path
) -> None:
    async with AsyncExitStack() as agents_stack:
        async with orchestrator_in_process(template, tmp_path, window_seconds=0.5) as server:
            address = server.address
            agents = await fleet_on_previous(server, agents_stack, tmp_path, 2)
            svc = server.services.rollouts
            rollout, candidate = start_candidate(server, **HEALTHY, waves=(0.0, 1.0), bake_seconds=10.0)
            await wait_for(
                lambda: svc.get(rollout.rollout_id).devices[rollout.waves[0][0]].state == "passed",
                what="the canary passed",
                timeout=40,
            )
            before = svc.get(rollout.rollout_id)
            assert (before.state, before.wave) == ("running", 0)  # still baking
        # the orchestrator is down; it comes back on the same address with the same data
        async with orchestrator_in_process(template, tmp_path, window_seconds=0.5, listen=address) as server:
            svc = server.services.rollouts
            resumed = svc.get(rollout.rollout_id)
            assert (resumed.state, resumed.wave, resumed.devices) == (
                before.state,
                before.wave,
                before.devices,
            )
            await wait_for(
                lambda: svc.get(rollout.rollout_id).state == "succeeded", what="success", timeout=60
            )
            for a in agents:
                assert committed(a, candidate)


async def test_lasting_nodata_pauses_and_a_new_rollout_supersedes(template: Path, tmp_path: Path) -> None:
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=0.3) as server,
        AsyncExitStack() as stack,
    ):
        await fleet_on_previous(server, stack, tmp_path, 1)
        svc = server.services.rollouts
        # a 0.5 floor needs 271 labelled samples per window; 0.3 s at 300/s gives ~90: accuracy stays NODATA
        rollout, candidate = start_candidate(
            server,
            **{**HEALTHY, "accuracy_floor": 0.5},
            bake_seconds=0.5,
            pause_after_seconds=2.0,
            waves=(1.0,),
        )
        await wait_for(lambda: svc.get(rollout.rollout_id).state == "paused", what="pause", timeout=40)
        paused = svc.get(rollout.rollout_id)
        assert "without a verdict (NODATA/INCONCLUSIVE)" in paused.state_reason
        assert not svc.events(kind="rollout.decision", rollout_id=rollout.rollout_id)  # never a rollback
        second, more = svc.start(
            model="digits", profiles=["rpi4"], variants={"rpi4": candidate}, overrides={"waves": (1.0,)}
        )
        server.push(more)
        first = svc.get(rollout.rollout_id)
        assert first.state == "aborted"
        assert first.state_reason == f"superseded by {second.rollout_id}"


async def test_a_rollout_ignores_failures_from_before_it_began(template: Path, tmp_path: Path) -> None:
    """Issue 15 item 8: a rollout rolled back in 1 s on a failed deployment from before it started, and
    blocked a healthy variant for the whole profile."""
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=0.3) as server,
        AsyncExitStack() as stack,
    ):
        [agent] = await fleet_on_previous(server, stack, tmp_path, 1)
        candidate = variant_id(server, "w1.0", "static_wi8_ai8")
        services = server.services
        path = services.artifacts.path(services.bundles.ensure(candidate).sha256)
        whole = path.read_bytes()
        path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 0xFF]))  # a transfer the device refuses
        server.push(services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=candidate))
        device_id = agent.identity.device_id  # type: ignore[union-attr]
        await wait_for(lambda: services.devices.get(device_id).phase == "failed", what="the old failure")
        path.write_bytes(whole)  # repaired before the rollout starts

        rollout, _ = start_candidate(server, waves=(0.0, 1.0), bake_seconds=0.5, **HEALTHY)
        await wait_for(
            lambda: services.rollouts.get(rollout.rollout_id).state != "running", what="the end", timeout=90
        )
        final = services.rollouts.get(rollout.rollout_id)
        assert (final.state, final.state_reason) == ("succeeded", "all 1 wave(s) passed")
        assert committed(agent, candidate)
        assert services.store.blocked("digits", "rpi4") == {}


async def test_with_default_settings_and_no_replay_a_healthy_rollout_promotes(
    template: Path, tmp_path: Path
) -> None:
    """Issue 15 item 10: with the defaults (10 s windows, a canary of the bundled samples every 60 s, no
    replay) accuracy was NODATA in every window (n_min 71 at rpi4's floor) and every rollout paused. Judged
    cumulatively on distinct samples since the rollout began, a healthy one promotes. Time is scaled by 10
    (1 s windows, a canary every 6 s, 6 s bake); every count-based setting is the default."""
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=1.0, canary_seconds=6.0) as server,
        AsyncExitStack() as stack,
    ):
        services = server.services
        token = services.identity.create_token()[0]
        agent = await stack.enter_async_context(
            agent_in_process(agent_config(server, tmp_path / "a", "rpi4", token))
        )
        await wait_for(agent.connected.is_set, what="connection")
        incumbent, candidate = variant_id(server, "w2.0", "fp32"), variant_id(server, "w1.0", "fp32")
        server.push(services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=incumbent))
        await wait_for(lambda: committed(agent, incumbent), what="the incumbent")
        device_id = agent.identity.device_id  # type: ignore[union-attr]

        def canary_windows(variant: str) -> int:
            return sum(
                w.inferences >= 50 for w in services.store.windows(device_id=device_id, variant_id=variant)
            )

        await wait_for(
            lambda: canary_windows(incumbent) >= 6, what="the incumbent's canary windows", timeout=90
        )
        rollout, assignments = services.rollouts.start(
            model="digits", profiles=["rpi4"], variants={"rpi4": candidate}, overrides={"bake_seconds": 6.0}
        )
        server.push(assignments)
        await wait_for(
            lambda: services.rollouts.get(rollout.rollout_id).state != "running", what="the end", timeout=150
        )
        final = services.rollouts.get(rollout.rollout_id)
        assert final.state == "succeeded", final.state_reason
        [evidence] = [st.evidence for st in final.devices.values()]
        assert evidence["saving"] > 0  # shown on the device against what it ran before
        assert evidence["saving_lower"] > 0


async def test_a_later_wave_measures_its_incumbent_while_it_waits(template: Path, tmp_path: Path) -> None:
    """A device that joined just before the rollout has no windows of its incumbent from before it began.
    While it waits for its wave it goes on serving (and measuring) the incumbent: those windows are its
    baseline. Judged only on windows from before the rollout began, its saving was NODATA and the rollout
    paused although the device had measured its incumbent for a whole wave."""
    async with (
        orchestrator_in_process(template, tmp_path, window_seconds=1.0, canary_seconds=6.0) as server,
        AsyncExitStack() as stack,
    ):
        services = server.services
        token = services.identity.create_token(uses=2)[0]
        incumbent, candidate = variant_id(server, "w2.0", "fp32"), variant_id(server, "w1.0", "fp32")

        agents = []
        for name in ("a", "b"):
            config = agent_config(server, tmp_path / name, "rpi4", token, replay_rate=200.0)
            agents.append(await stack.enter_async_context(agent_in_process(config)))
            await wait_for(agents[-1].connected.is_set, what="connection")
        # waves follow the device ids' order: the first is the canary
        first, late = sorted(agents, key=lambda a: a.identity.device_id)
        canary, waiting = first.identity.device_id, late.identity.device_id

        async def install(a: Any) -> None:
            device = a.identity.device_id
            server.push(
                services.deployments.deploy(model="digits", device_ids=[device], variant_id=incumbent)
            )
            await wait_for(lambda: committed(a, incumbent), what="the incumbent")

        def windows(a: Any, variant: str) -> int:
            device = a.identity.device_id
            return sum(
                w.inferences >= 50 for w in services.store.windows(device_id=device, variant_id=variant)
            )

        await install(first)
        await wait_for(lambda: windows(first, incumbent) >= 10, what="the canary's baseline", timeout=90)
        await install(late)  # just before the rollout: next to nothing measured on it yet
        rollout, assignments = services.rollouts.start(
            model="digits",
            device_ids=[canary, waiting],
            variants={"rpi4": candidate},
            overrides={"bake_seconds": 8.0, "waves": (0.0, 1.0), "pause_after_seconds": 120.0},
        )
        assert rollout.waves == [[canary], [waiting]]
        server.push(assignments)
        await wait_for(
            lambda: services.rollouts.get(rollout.rollout_id).state != "running", what="the end", timeout=180
        )
        final = services.rollouts.get(rollout.rollout_id)
        assert final.state == "succeeded", final.state_reason
        evidence = final.devices[waiting].evidence
        assert evidence["incumbent_windows"] >= 5  # measured after the rollout began, before its switch
        assert evidence["saving_lower"] > 0
