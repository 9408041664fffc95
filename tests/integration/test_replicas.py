"""Two orchestrator replicas in process on one real PostgreSQL (LISTEN/NOTIFY between them), real agents:
a deploy or a revocation made on one reaches a stream held by the other, presence says which replica
holds each device, one identity cannot stream to both, and agents move to the other replica when theirs
stops; a benchmark job started on one reaches its device's stream on the other.
(tests/e2e/test_replica_processes.py does the same with processes, SIGKILL and a rollout.)"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import grpc
import pytest

from edgefleet.agent.identity.tls import DeviceTls
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.v1 import control_pb2_grpc
from tests.helpers.fleet import (
    admin_client,
    agent_config,
    agent_in_process,
    committed,
    hello_message,
    wait_for,
)
from tests.helpers.postgres import PostgresServer
from tests.helpers.raw_device import RawDevice
from tests.helpers.replicas import replica_in_process, shared_database

pytestmark = pytest.mark.xdist_group("postgres")


def _views(api: AdminClient) -> dict[str, tuple[str, str]]:
    return {d.device_id: (d.status, d.replica) for d in api.list_devices()}


async def test_replicas_share_devices_deploys_revocations_and_failover(
    template: Path, tmp_path: Path, pg_server: PostgresServer
) -> None:
    url, shared = shared_database(pg_server, "replicas", template, tmp_path)
    async with contextlib.AsyncExitStack() as outer:
        a = await outer.enter_async_context(replica_in_process(tmp_path, "a", store_url=url, shared=shared))
        b_stack = contextlib.AsyncExitStack()
        b = await b_stack.enter_async_context(replica_in_process(tmp_path, "b", store_url=url, shared=shared))
        token = a.services.identity.create_token(uses=5)[0]
        # agents enrol through A; one streams to B first (then A), the other to A only
        both = f"{b.address},{a.address}"
        first = agent_config(b, tmp_path / "one", "rpi4", token, enroll_address=a.api_address)
        first = dataclasses.replace(first, orchestrator=both)
        second = agent_config(a, tmp_path / "two", "rpi4", token)
        one = await outer.enter_async_context(agent_in_process(first))
        two = await outer.enter_async_context(agent_in_process(second))
        await wait_for(lambda: one.connected.is_set() and two.connected.is_set(), what="both connected")
        one_id, two_id = one.identity.device_id, two.identity.device_id  # type: ignore[union-attr]
        api = outer.enter_context(admin_client(a))
        views = await asyncio.to_thread(_views, api)
        assert views == {one_id: ("online", "b"), two_id: ("online", "a")}  # each device once, and where

        # a deploy made through A reaches the stream held by B (a notice, not a reconnect)
        assignments = await asyncio.to_thread(api.deploy, "digits", profiles=("rpi4",))
        variant_id = assignments[0][2]
        await wait_for(lambda: committed(one, variant_id) and committed(two, variant_id), what="both commit")
        assert one.reconnects == 0
        assert b.streams.notices >= 1

        # one identity cannot stream to both replicas: a second stream on A while B holds it is refused
        await _refused_on(a, tmp_path / "one", one_id)

        # B stops: its agent moves to A, and presence follows
        await b_stack.aclose()
        await wait_for(lambda: one.reconnects >= 1 and one.connected.is_set(), what="failover to A")
        await _until_views(api, {one_id: ("online", "a"), two_id: ("online", "a")})

        # B again, and a revocation made through B ends the stream A holds
        b = await outer.enter_async_context(replica_in_process(tmp_path, "b", store_url=url, shared=shared))
        with admin_client(b) as api_b:
            await asyncio.to_thread(api_b.revoke_device, two_id, "test")
        await wait_for(lambda: not two.connected.is_set(), what="the revoked stream ended")
        await _until_views(api, {one_id: ("online", "a"), two_id: ("revoked", "")})


async def test_a_benchmark_job_started_on_one_replica_reaches_a_device_on_the_other(
    template: Path, tmp_path: Path, pg_server: PostgresServer
) -> None:
    url, shared = shared_database(pg_server, "replica_jobs", template, tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            replica_in_process(tmp_path, "a", store_url=url, shared=shared, insecure=True)
        )
        b = await stack.enter_async_context(
            replica_in_process(tmp_path, "b", store_url=url, shared=shared, insecure=True)
        )
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(b.address))
        device = RawDevice(channel, a.services.identity.create_token()[0])
        await device.connect()  # its stream is on B
        await wait_for(lambda: a.services.devices.get(device.device_id).report is not None, what="hello")
        with admin_client(a) as api:  # the job is started through A
            job = await asyncio.to_thread(api.start_benchmark, "digits", "rpi4", top_k=2, rounds=5)
        assert [d[0] for d in job.devices] == [device.device_id]
        await wait_for(lambda: bool(device.of_kind("benchmark_job")), what="the job on the stream B holds")
        [sent] = device.of_kind("benchmark_job")
        assert sent.job_id == job.job_id
        assert {c.variant.variant_id for c in sent.candidates} == {c.variant_id for c in job.candidates}
        assert b.streams.notices >= 1
        await device.close()


async def _until_views(api: AdminClient, expected: dict[str, tuple[str, str]]) -> None:
    """The admin API (synchronous) from a thread: the replicas serve on this event loop."""
    seen: dict[str, tuple[str, str]] = {}
    for _ in range(400):
        seen = await asyncio.to_thread(_views, api)
        if seen == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"devices {seen}, expected {expected}")


async def _refused_on(server: OrchestratorServer, data_dir: Path, device_id: str) -> None:
    tls = DeviceTls.load(data_dir)
    async with grpc.aio.secure_channel(server.address, tls.credentials()) as channel:
        stub = control_pb2_grpc.FleetControlStub(channel)
        call = stub.Connect(iter([hello_message(device_id)]))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in call:
                pass
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "replica b" in (refused.value.details() or "")


async def test_simulated_agents_split_between_replicas(
    template: Path, tmp_path: Path, pg_server: PostgresServer
) -> None:
    """`edgefleet simulate` given two replicas: half the agents enrol and stream on each, one fleet."""
    from edgefleet.orchestrator.tools.simulate import Endpoints, simulate

    url, shared = shared_database(pg_server, "simsplit", template, tmp_path)
    async with (
        replica_in_process(tmp_path, "a", store_url=url, shared=shared) as a,
        replica_in_process(tmp_path, "b", store_url=url, shared=shared) as b,
    ):
        assert a.tls is not None
        token = a.services.identity.create_token(uses=10)[0]
        report = await simulate(
            [Endpoints(r.address, r.api_address, a.tls.ca_pem) for r in (a, b)],
            token,
            agents=10,
            profiles=("rpi4",),
            duration_s=0.5,
            window_s=0.5,
        )
        assert report.connected == 10, report.failures()
        opened = [r.metrics.registry.get_sample_value("edgefleet_streams_opened_total") for r in (a, b)]
        # each half streamed to its own replica (a stream that failed and came back counts twice)
        assert min(opened) >= 5, opened
        assert sum(opened) == 10 + report.reconnects, opened
        assert len(a.services.devices.list_devices()) == 10  # one fleet
