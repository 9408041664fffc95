"""Calls that arrive while the orchestrator's event loop is stalled wait for it; grpc does not cancel them.

The aio server picks calls up one per loop iteration; the rest wait in grpc's queue. grpc's default cancels
a call that waited 30 s there. At 10,000 agents a deploy starts 10,000 downloads at once while garbage
collection and store reads stall the loop for seconds, and thousands of downloads were cancelled that way
(each a failed deployment on its device). Here the loop is stalled for 35 s outright (``time.sleep`` on it;
the calls come from threads, whose gRPC I/O runs while the loop sleeps) and every call still succeeds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers.fleet import orchestrator_in_process

pytestmark = pytest.mark.slow

STALL_S = 35.0  # longer than grpc's default 30 s


async def test_calls_waiting_through_a_long_loop_stall_are_served_not_cancelled(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        channel = grpc.secure_channel(server.api_address, grpc.ssl_channel_credentials(server.tls.ca_pem))
        stub = health_pb2_grpc.HealthStub(channel)
        await asyncio.to_thread(stub.Check, health_pb2.HealthCheckRequest(), timeout=10)  # connected first
        outcomes: list[str] = []

        def check() -> None:
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=STALL_S + 30)
                outcomes.append("OK")
            except grpc.RpcError as exc:
                outcomes.append(exc.code().name)

        callers = [threading.Thread(target=check) for _ in range(4)]
        for t in callers:
            t.start()
        time.sleep(STALL_S)  # noqa: ASYNC251 - the point: the event loop stalls, the calls queue in grpc
        await asyncio.to_thread(lambda: [t.join() for t in callers])
        channel.close()
        assert outcomes == ["OK"] * 4
