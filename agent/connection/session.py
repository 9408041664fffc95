"""One Connect stream: the Hello, then a reader (desired state, acknowledgements, settings, benchmark jobs),
heartbeats and the stream-bound background work (certificate renewal). Protobuf stays here and in ``wire``
and ``wire_benchmark``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from edgefleet.agent.connection.messages import (
    DesiredState,
    HeartbeatFacts,
    HelloFacts,
    ServerSettings,
    TelemetryAck,
)
from edgefleet.agent.connection.uplink import Outgoing, Uplink
from edgefleet.agent.connection.wire import heartbeat_message, hello_message, incoming
from edgefleet.agent.connection.wire_benchmark import benchmark_job
from edgefleet.agent.workload.benchmark.model import BenchmarkJob
from edgefleet.v1 import control_pb2, control_pb2_grpc

__all__ = ["Session", "SessionParts"]

log = logging.getLogger("edgefleet.agent")
Metadata = tuple[tuple[str, str | bytes], ...]


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What a session talks to (the composition root wires them)."""

    hello: Callable[[], Awaitable[HelloFacts]]
    heartbeat: Callable[[], HeartbeatFacts]
    heartbeat_seconds: float
    on_desired: Callable[[DesiredState], None]
    on_ack: Callable[[TelemetryAck], None]
    on_settings: Callable[[ServerSettings], Awaitable[None]]
    #: The stream is up (the orchestrator answered).
    on_established: Callable[[], None]
    #: Telemetry delivery: attached to the stream while it is up.
    attach_telemetry: Callable[[Callable[[Sequence[bytes], int], None]], None]
    detach_telemetry: Callable[[], None]
    #: A benchmark job (or its cancellation) from the orchestrator.
    on_benchmark: Callable[[BenchmarkJob], None]
    #: The stream's send queue is attached (after the Hello): what is owed on every new stream goes now.
    on_attached: Callable[[], None]
    #: Work bound to the stream's stub (certificate renewal).
    background: Callable[[Any], Coroutine[Any, Any, None]]
    uplink: Uplink
    stop: asyncio.Event


class Session:
    def __init__(self, parts: SessionParts) -> None:
        self._p = parts

    async def run(self, channel: grpc.aio.Channel, metadata: Metadata) -> bool:
        """Until the stream ends or the agent stops; True when the orchestrator answered."""
        p = self._p
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        queue: Outgoing = asyncio.Queue()
        queue.put_nowait(hello_message(await p.hello()))

        async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
            while (msg := await queue.get()) is not None:
                yield msg

        call = stub.Connect(requests(), metadata=metadata)
        p.uplink.attach(queue)
        p.attach_telemetry(p.uplink.telemetry)
        p.on_attached()
        helpers = [
            asyncio.create_task(self._heartbeats(queue)),
            asyncio.create_task(p.background(stub)),
        ]
        stopper = asyncio.create_task(p.stop.wait())
        reader = asyncio.create_task(self._read(call))
        try:
            done, _ = await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                return reader.result()
            call.cancel()
            return True
        finally:
            for task in (*helpers, stopper, reader):
                task.cancel()
            for result in await asyncio.gather(*helpers, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("stream helper failed", exc_info=result)
            p.detach_telemetry()
            p.uplink.detach()
            queue.put_nowait(None)

    async def _read(self, call: Any) -> bool:
        p = self._p
        established = False
        async for msg in call:
            if not established:
                established = True
                p.on_established()
            item = incoming(msg)
            if isinstance(item, DesiredState):
                p.on_desired(item)
            elif isinstance(item, TelemetryAck):
                p.on_ack(item)
            elif isinstance(item, ServerSettings):
                await p.on_settings(item)
            elif (job := benchmark_job(msg)) is not None:
                p.on_benchmark(job)
        return established

    async def _heartbeats(self, queue: Outgoing) -> None:
        while True:
            await asyncio.sleep(self._p.heartbeat_seconds)
            queue.put_nowait(heartbeat_message(self._p.heartbeat()))
