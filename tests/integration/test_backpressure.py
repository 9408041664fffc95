"""Telemetry back-pressure: when storage stalls, the orchestrator's queue stays bounded, devices are told
to back off (retry advice), nothing is lost, health keeps answering, and a device that ignores the
advice loses its stream with RESOURCE_EXHAUSTED."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    hello_message,
    orchestrator_in_process,
    wait_for,
)

QUEUE = 2


def _lock(db: Path) -> sqlite3.Connection:
    """Another process-level writer holding the store: every ingest waits (busy timeout) meanwhile."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


async def test_a_stalled_store_means_back_off_advice_and_no_loss(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(
        template, tmp_path, window_seconds=0.1, telemetry_queue_batches=QUEUE
    ) as server:
        agents = []
        token = server.services.identity.create_token(uses=4)[0]
        async with AsyncExitStack() as stack:
            for i in range(4):
                cfg = agent_config(
                    server, tmp_path / f"a{i}", "rpi4", token, window_seconds=0.1, replay_rate=100.0
                )
                agents.append(await stack.enter_async_context(agent_in_process(cfg)))
            for a in agents:
                await wait_for(a.connected.is_set, what="streams")
            ids = [a.identity.device_id for a in agents]  # type: ignore[union-attr]
            await wait_for(
                lambda: all(server.services.store.count_windows(d) >= 2 for d in ids), what="windows"
            )
            lock = _lock(server.config.db_path)
            try:
                await wait_for(lambda: server.ingest.refused_total >= 4, what="back-pressure", timeout=8)
                assert server.ingest.pending <= QUEUE  # bounded, whatever the devices send
                # the loop is not blocked by the stalled store: health answers
                assert server.tls is not None
                creds = grpc.ssl_channel_credentials(server.tls.ca_pem)
                async with grpc.aio.secure_channel(server.api_address, creds) as ch:
                    reply = await health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(), timeout=5
                    )
                    assert reply.status == health_pb2.HealthCheckResponse.SERVING
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            assert sum(a.telemetry.backpressure_events for a in agents) >= 1
            assert all(a.connected.is_set() for a in agents)  # advice, not disconnection
            await wait_for(
                lambda: all(a.telemetry.state.backlog <= 2 for a in agents),
                what="backlogs drained",
                timeout=40,
            )
        for d in ids:
            seqs = sorted(w.seq for w in server.services.store.windows(device_id=d))
            assert seqs == list(range(1, seqs[-1] + 1)), d  # nothing lost, nothing twice


async def test_a_device_ignoring_the_advice_loses_its_stream(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, telemetry_queue_batches=1) as server:
        assert server.tls is not None
        api = grpc.aio.secure_channel(server.api_address, grpc.ssl_channel_credentials(server.tls.ca_pem))
        key, csr = new_key_and_csr("pusher")
        token = server.services.identity.create_token()[0]
        reply = await control_pb2_grpc.FleetControlStub(api).Enroll(
            control_pb2.EnrollRequest(token=token, profile="rpi4", csr_pem=csr)
        )
        await api.close()
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem, key, reply.certificate_pem)
        variant = server.services.variants.list_variants("digits")[0]
        ref = common_pb2.VariantRef(variant_id=variant.variant_id, model="digits", recipe=variant.recipe)

        locked = asyncio.Event()
        acks: asyncio.Queue[float] = asyncio.Queue()

        async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
            yield hello_message(reply.device_id)
            await locked.wait()  # the Hello is stored; now the store stalls
            for seq in range(1, 60):  # far more than the queue and the ignored-advice allowance
                if seq == 4:  # the first three: one stuck, one queued or refused, one refused. Let their
                    await asyncio.sleep(0.5)  # advice arrive and forget it, so that from here on exactly one
                    while not acks.empty():  # send is in flight when the server ends the call (a send in
                        acks.get_nowait()  # flight then fails on the client as INTERNAL, not the status)
                w = common_pb2.TelemetryWindow(sequence=seq, variant=ref, inferences=10)
                w.start.FromSeconds(1_700_000_000 + seq)
                w.end.FromSeconds(1_700_000_001 + seq)
                yield control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=[w]))
                if seq > 3:  # past the stuck and queued ones: wait for the (ignored) advice, then push again,
                    await acks.get()  # so no send is in flight when the server ends the call
            await asyncio.Event().wait()

        advice: list[float] = []
        resumed: list[int] = []
        lock: sqlite3.Connection | None = None

        async def converse(stub: Any) -> None:
            nonlocal lock
            async for msg in stub.Connect(requests(), timeout=30):
                kind = msg.WhichOneof("body")
                if kind == "config" and lock is None:
                    lock = _lock(server.config.db_path)
                    locked.set()
                elif kind == "telemetry_ack" and not resumed:  # the session's start: what is stored
                    resumed.append(msg.telemetry_ack.up_to_sequence)
                elif kind == "telemetry_ack":
                    advice.append(msg.telemetry_ack.retry_after_seconds)
                    acks.put_nowait(msg.telemetry_ack.retry_after_seconds)

        try:
            async with grpc.aio.secure_channel(server.address, creds) as ch:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await converse(control_pb2_grpc.FleetControlStub(ch))
        finally:
            if lock is not None:
                lock.execute("ROLLBACK")
                lock.close()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "back-pressure" in (err.value.details() or "")
        assert resumed == [0]  # nothing stored yet
        assert advice
        assert all(a > 0 for a in advice)
