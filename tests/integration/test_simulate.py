"""The fleet simulator against a real orchestrator: enrolment, streams, downloads, acks, telemetry."""

from __future__ import annotations

import asyncio
import math
import socket
from pathlib import Path

from edgefleet.core.errors import Unavailable
from edgefleet.orchestrator.tools.simulate import Endpoints, simulate
from edgefleet.v1 import common_pb2, control_pb2
from tests.helpers.controlstub import control_stub
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


async def test_agents_spread_over_worker_processes_connect_and_a_deploy_reaches_all(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        token = server.services.identity.create_token(uses=40)[0]
        assert server.tls is not None

        async def deploy() -> None:
            server.push(await asyncio.to_thread(server.services.deployments.deploy, model="digits"))

        report = await simulate(
            Endpoints(server.address, server.api_address, server.tls.ca_pem),
            token,
            agents=40,
            profiles=("rpi4", "phone"),
            duration_s=1.0,
            window_s=0.5,
            deploy=deploy,
            processes=2,
            timeout_s=120.0,
        )
        assert report.failures() == []
        assert report.ok
        assert (report.processes, report.connected) == (2, 40)
        assert [(d.name, d.reached) for d in report.deployments] == [("deploy", 40)]
        assert report.windows_sent > 0
        assert len(server.services.devices.list_devices()) == 40  # each worker enrolled its own share


async def test_streams_the_orchestrator_ends_are_reconnected_like_real_agents(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        token = server.services.identity.create_token(uses=20)[0]
        assert server.tls is not None
        run = asyncio.create_task(
            simulate(
                Endpoints(server.address, server.api_address, server.tls.ca_pem),
                token,
                agents=20,
                profiles=("rpi4",),
                duration_s=6.0,
                timeout_s=60.0,
            )
        )
        await wait_for(lambda: len(server.sessions) == 20, what="20 streams")
        for device_id in server.sessions.connected():
            server.sessions.kick(device_id, Unavailable("orchestrator going away"))

        def opened() -> float:
            return server.metrics.registry.get_sample_value("edgefleet_streams_opened_total") or 0.0

        await wait_for(lambda: opened() == 40 and len(server.sessions) == 20, what="20 streams opened again")
        report = await run
        assert report.ok
        assert report.reconnects == 20
        assert report.stream_errors == {"UNAVAILABLE: orchestrator going away": 20}


async def test_agents_that_cannot_connect_are_counted_and_explained_by_the_timeout(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        token = server.services.identity.create_token(uses=5)[0]
        assert server.tls is not None
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        report = await simulate(
            Endpoints(f"127.0.0.1:{closed.getsockname()[1]}", server.api_address, server.tls.ca_pem),
            token,
            agents=5,
            profiles=("rpi4",),
            duration_s=30.0,
            timeout_s=3.0,
        )
        closed.close()
        assert report.timed_out
        assert not report.ok
        assert (report.connected, report.reconnects > 0) == (0, True)
        (error,) = report.stream_errors
        assert error.startswith("UNAVAILABLE: failed to connect")
        assert "127.0.0.1" not in error  # addresses left out, so that equal failures count together
        (line,) = report.failures()
        assert line.startswith("5 of 5 agents were not connected at the timeout (most frequent stream error")


async def test_a_simulated_agent_answers_a_benchmark_job_with_estimated_figures(
    template: Path, tmp_path: Path
) -> None:
    """The orchestrator does not send jobs yet: a raw FleetControl server sends one (tests/helpers)."""
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        candidates = [cat.bundle(v) for v in cat.variant_ids("w0.5")]
        run = asyncio.create_task(
            simulate(stub.address, "t", agents=1, profiles=("rpi4",), duration_s=3.0, window_s=0.5)
        )
        await wait_for(lambda: stub.streams >= 1, what="the simulated stream")
        message = control_pb2.BenchmarkJob(
            job_id="sim-job",
            rounds=3,
            candidates=[
                control_pb2.BenchmarkCandidate(variant=c.variant, artifact=c.artifact) for c in candidates
            ],
        )
        stub.send(control_pb2.OrchestratorMessage(benchmark_job=message))
        await wait_for(lambda: bool(stub.reports("sim-job")), what="the report")
        assert (await run).errors == []
        report = stub.reports("sim-job")[-1]
    assert (report.state, report.done, report.total) == (common_pb2.BENCHMARK_STATE_DONE, 3, 3)
    by_recipe = {r.variant.recipe: r for r in report.results}
    assert set(by_recipe) == {c.variant.recipe for c in candidates}
    for r in report.results:
        assert (r.energy.kind, r.energy.method, r.turns) == (
            common_pb2.MEASUREMENT_KIND_ESTIMATED,
            "simulated",
            3,
        )
        assert 0 < r.energy.dynamic_joules_per_inference < r.energy.gross_joules_per_inference
        assert 0 < r.correct <= r.scored == 180
    fp32, dynamic = by_recipe["fp32"].energy, by_recipe["dynamic_wi8_afp32"].energy
    assert dynamic.dynamic_joules_per_inference > fp32.dynamic_joules_per_inference  # as on real CPUs
