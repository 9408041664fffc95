"""Targets select devices by profile, id and labels; a named variant the plan rejects needs --force
(issue 15 items 11 and 12). Through the real admin API, as the CLI calls it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.core.errors import FailedPrecondition, NotFound
from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers.fleet import admin_client, orchestrator_in_process, variant_id


def enrol(server: OrchestratorServer, profile: str, name: str) -> str:
    identity = server.services.identity
    token = identity.create_token()[0]
    csr = new_key_and_csr(name)[1]
    return identity.enroll(token=token, profile=profile, name=name, labels={}, csr_pem=csr).device.device_id


async def test_labels_select_devices_for_deploy_rollout_and_plan(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        berlin, paris, phone = (
            enrol(server, "rpi4", "a"),
            enrol(server, "rpi4", "b"),
            enrol(server, "phone", "c"),
        )
        with admin_client(server) as api:
            shown = await asyncio.to_thread(api.label_device, berlin, {"site": "berlin", "rack": "3"})
            assert shown.labels == {"site": "berlin", "rack": "3"}
            await asyncio.to_thread(api.label_device, paris, {"site": "paris"})
            await asyncio.to_thread(api.label_device, berlin, {}, ("rack",))
            assert (await asyncio.to_thread(api.get_device, berlin)).labels == {"site": "berlin"}

            assigned = await asyncio.to_thread(api.deploy, "digits", labels={"site": "berlin"})
            assert [a[0] for a in assigned] == [berlin]  # not the whole fleet
            with pytest.raises(NotFound):
                await asyncio.to_thread(api.deploy, "digits", labels={"site": "tokyo"})
            rollout = await asyncio.to_thread(api.start_rollout, "digits", labels={"site": "paris"})
            assert [d.device_id for d in rollout.devices] == [paris]
            plans = await asyncio.to_thread(api.plan, "digits", labels={"site": "paris"})
            assert [p.profile for p in plans] == ["rpi4"]
            with pytest.raises(Exception, match="label"):
                await asyncio.to_thread(api.label_device, phone, {"Bad Key": "x"})


async def test_a_variant_the_plan_rejects_needs_force(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        mcu = enrol(server, "mcu-gateway", "m")
        rpi = enrol(server, "rpi4", "r")
        float32 = variant_id(server, "w1.0", "fp32")
        with admin_client(server) as api:
            # impossible: a float32 model on a full-integer-only TFLite Micro profile
            with pytest.raises(FailedPrecondition, match="full-integer") as refused:
                await asyncio.to_thread(api.deploy, "digits", device_ids=(mcu,), variant_id=float32)
            assert "--force" in str(refused.value)
            assert server.services.devices.get(mcu).desired is None  # nothing was set
            [forced] = await asyncio.to_thread(
                api.deploy, "digits", device_ids=(mcu,), variant_id=float32, force=True
            )
            assert forced[2] == float32
            [event] = await asyncio.to_thread(api.events, kind="deploy.forced")
            assert any("full-integer" in r for r in event.details["overridden"])

            # blocked: a variant rolled back on the profile is refused for a rollout unless forced
            server.services.store.block("digits", "rpi4", float32, "ro-x: energy breach", 1.0)
            with pytest.raises(FailedPrecondition, match="rolled back: ro-x"):
                await asyncio.to_thread(
                    api.start_rollout, "digits", device_ids=(rpi,), variants={"rpi4": float32}
                )
            rollout = await asyncio.to_thread(
                api.start_rollout, "digits", device_ids=(rpi,), variants={"rpi4": float32}, force=True
            )
            assert rollout.variants == {"rpi4": float32}
            [started] = await asyncio.to_thread(api.events, kind="rollout.started")
            assert started.rule == "rollout.forced"
            assert "rolled back: ro-x: energy breach" in started.details["forced_despite"]["rpi4"]
