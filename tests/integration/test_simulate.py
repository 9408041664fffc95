"""The fleet simulator against a real orchestrator: enrolment, streams, downloads, acks, telemetry."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from edgefleet.orchestrator.tools.simulate import Endpoints, simulate
from tests.helpers.fleet import orchestrator_in_process, wait_for


async def test_sixty_simulated_agents_connect_deploy_and_report(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        token = server.services.identity.create_token(uses=60)[0]

        async def deploy() -> None:
            server.push(await asyncio.to_thread(server.services.deployments.deploy, model="digits"))

        assert server.tls is not None  # every simulated agent has its own key, certificate and connection
        report = await simulate(
            Endpoints(server.address, server.api_address, server.tls.ca_pem),
            token,
            agents=60,
            profiles=("rpi4", "phone", "mcu-gateway"),
            duration_s=2.0,
            window_s=0.5,
            deploy=deploy,
        )
        assert report.errors == []
        assert report.committed == 60
        assert not math.isnan(report.connected_after_s)
        assert not math.isnan(report.committed_after_s)
        devices = server.services.devices.list_devices()
        assert len(devices) == 60
        await wait_for(
            lambda: all(d.phase == "committed" for d in server.services.devices.list_devices()),
            what="commits",
        )
        assert server.services.store.count_windows() >= 60
        assert report.artifacts_bytes >= 60 * 10_000  # every agent downloaded and verified its bundle
