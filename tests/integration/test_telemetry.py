"""Measured and estimated energy per inference, from agents to the store and into the plan."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers import fakesys
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    committed,
    orchestrator_in_process,
    push_desired,
    wait_for,
)


def windows(server: OrchestratorServer, device_id: str) -> list[WindowRecord]:
    return sorted(server.services.store.windows(device_id=device_id), key=lambda w: w.seq)


async def test_no_sensor_here_means_estimated_energy_labelled_as_such(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.5) as server:
        cfg = agent_config(
            server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0], replay_rate=400.0
        )
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, a)
            await wait_for(lambda: committed(agent, a.desired.variant_id), what="commit")
            device = a.device_id

            def full() -> list[WindowRecord]:
                return [
                    w for w in windows(server, device) if w.variant_id and w.inferences >= 50 and not w.flags
                ]

            await wait_for(lambda: len(full()) >= 5, what="5 full windows")
            meter = agent.telemetry.meter
        sensors = [p for p in agent.telemetry.probes if p.available and not p.name.startswith("estimate")]
        for w in full():
            if sensors:  # a machine with a readable sensor measures; this one has none
                assert w.energy_kind in ("measured", "derived")
            else:
                assert meter.name == "estimate:cpu-time"
                assert (w.energy_kind, w.energy_method) == ("estimated", "estimate:cpu-time")
            assert w.gross_j is not None
            assert w.gross_j > 0
            assert w.dynamic_j is not None
            assert 0 < w.dynamic_j < w.gross_j  # the profile's idle power is subtracted
            assert w.labelled == w.inferences  # replay feeds labelled samples
            assert w.correct / w.labelled > 0.85
            assert 0 < w.latency_p50_s <= w.latency_p95_s <= w.latency_p99_s


async def test_a_driven_ina219_is_measured_within_2_percent(template: Path, tmp_path: Path) -> None:
    sysfs = tmp_path / "sys"
    # 2 W while nothing runs: below every driven figure. The agent learns its idle baseline from windows
    # with no inference; whether one closes before the model serves depends on timing, and a baseline
    # above a driven figure would rightly flag that window ("energy below the idle baseline").
    power_file = fakesys.ina219(sysfs, power_uw=2_000_000, shunt_uohm=100_000)
    schedule: list[tuple[float, float]] = [(time.time(), 2.0)]

    async def drive() -> None:
        # the first figure at once: a window still at the idle power would have a dynamic energy of zero
        # give or take the sampling, below the baseline half the time (and rightly flagged so)
        for watts in (5.0, 2.5, 4.0, 6.0, 3.5):
            fakesys.update(power_file, int(watts * 1e6))
            schedule.append((time.time(), watts))
            await asyncio.sleep(0.7)

    def energy_between(t0: float, t1: float) -> float:
        total = 0.0
        for i, (start, watts) in enumerate(schedule):
            end = schedule[i + 1][0] if i + 1 < len(schedule) else math.inf
            total += watts * max(0.0, min(end, t1) - max(start, t0))
        return total

    async with orchestrator_in_process(template, tmp_path, window_seconds=0.5) as server:
        cfg = agent_config(
            server,
            tmp_path / "a",
            "rpi4",
            server.services.identity.create_token()[0],
            replay_rate=300.0,
            sysfs_root=sysfs,
        )
        async with agent_in_process(cfg) as agent:
            assert agent.telemetry.meter.name == "hwmon:ina219:power1_input"
            await wait_for(agent.connected.is_set, what="connection")
            # the idle baseline first (a window with no inference): without it there is no dynamic figure,
            # and the plan rightly does not put the gross figure in the dynamic one's place
            await wait_for(lambda: agent.telemetry.idle_watts is not None, what="the idle baseline")
            assert agent.telemetry.idle_watts == pytest.approx(2.0, rel=0.02)
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, a)
            await wait_for(lambda: committed(agent, a.desired.variant_id), what="commit")
            start = time.time()
            await drive()
            await wait_for(
                lambda: any(w.start > start + 4.0 for w in windows(server, a.device_id)), what="windows"
            )
            plan = server.services.plans.plan("digits", ["rpi4"])[0]
        # windows that ran inferences (on a loaded machine the inference thread can miss a whole 0.5 s window;
        # such a window has no energy per inference, and its energy is compared nowhere)
        run = [
            w
            for w in windows(server, a.device_id)
            if w.start >= start and w.end <= schedule[-1][0] + 0.7 and w.inferences
        ]
        assert len(run) >= 5
        odd = [
            (w.seq, w.inferences, w.energy_kind, w.energy_method, w.flags)
            for w in run
            if (w.energy_kind, w.energy_method) != ("measured", "hwmon:ina219:power1_input")
        ]
        assert not odd, odd
        # On a loaded machine a whole window can pass without an inference: the agent then takes it as idle
        # and moves its baseline towards the power driven then (a test artefact: here the power does not
        # follow the work), so a later window at a lower driven power is rightly flagged below the baseline.
        # Its gross figure stays measured; that flag alone is allowed, and only after such a window.
        drifted = "energy below the idle baseline: baseline drifted, dynamic figure omitted"
        idle_seen = [w.seq for w in windows(server, a.device_id) if w.start >= start and not w.inferences]
        bad = [
            (w.seq, w.gross_j, w.flags)
            for w in run
            if w.gross_j is None
            or (w.flags and not (idle_seen and min(idle_seen) < w.seq and set(w.flags) == {drifted}))
        ]
        assert not bad, (bad, idle_seen)
        measured = sum(w.gross_j * w.inferences for w in run)  # type: ignore[operator]
        expected = sum(energy_between(w.start, w.end) for w in run)
        assert measured == pytest.approx(expected, rel=0.02)
        # the plan now uses the devices' measurement for the deployed variant
        chosen = next(c for c in plan.candidates if c.variant.variant_id == a.desired.variant_id)
        assert chosen.figures.energy_kind == "measured"
        assert "hwmon:ina219:power1_input" in chosen.figures.energy_source
        assert chosen.figures.windows >= 5


async def test_canary_accuracy_and_the_ops_estimator(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.5, canary_seconds=0.5) as server:
        cfg = agent_config(
            server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0], estimator="ops"
        )  # no replay: the canary is the only workload
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, a)
            await wait_for(lambda: committed(agent, a.desired.variant_id), what="commit")

            def canary_windows() -> list[WindowRecord]:
                return [w for w in windows(server, a.device_id) if w.variant_id and w.labelled]

            await wait_for(lambda: len(canary_windows()) >= 3, what="canary windows")
        card = server.services.variants.get(a.desired.variant_id)
        bundled = len(server.services.variants.scoring_set("digits"))
        for w in canary_windows():
            assert w.labelled % bundled == 0  # whole passes over the bundled scoring split
            assert w.inferences == w.labelled
            assert w.correct / w.labelled > 0.85
            assert (w.energy_kind, w.energy_method) == ("estimated", "estimate:ops")
            assert w.gross_j == pytest.approx(card.ops_energy.total_j)
