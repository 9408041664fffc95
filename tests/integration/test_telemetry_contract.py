"""The telemetry contract on a real stream: an ack means stored, one bad window never costs another, and
nothing a device sends in a window ends its stream. Raw protocol clients written from the protos, as an
outside implementation (or an attacker) would write them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import hello_message, orchestrator_in_process, wait_for


def window(seq: int, **fields: Any) -> common_pb2.TelemetryWindow:
    w = common_pb2.TelemetryWindow(sequence=seq, inferences=100, **fields)
    if not w.HasField("start"):
        w.start.FromSeconds(1_700_000_000 + seq)
        w.end.FromSeconds(1_700_000_001 + seq)
    return w


def batch(*windows: common_pb2.TelemetryWindow) -> control_pb2.AgentMessage:
    return control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=list(windows)))


class RawDevice:
    """An enrolled device speaking the protocol by hand: messages go out when put, replies are collected."""

    def __init__(
        self, server: OrchestratorServer, device_id: str, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        self.server = server
        self.device_id = device_id
        self.metadata = metadata
        self.outgoing: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
        self.acks: list[control_pb2.TelemetryAck] = []
        self.error: grpc.aio.AioRpcError | None = None

    async def _requests(self) -> AsyncIterator[control_pb2.AgentMessage]:
        while (msg := await self.outgoing.get()) is not None:
            yield msg

    async def run(self, channel: grpc.aio.Channel) -> None:
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        try:
            async for msg in stub.Connect(self._requests(), metadata=self.metadata):
                if msg.WhichOneof("body") == "telemetry_ack":
                    self.acks.append(msg.telemetry_ack)
        except grpc.aio.AioRpcError as exc:
            self.error = exc

    def stored(self) -> list[int]:
        return sorted(w.seq for w in self.server.services.store.windows(device_id=self.device_id))


@asynccontextmanager
async def raw_device(server: OrchestratorServer, hello: Any = None) -> AsyncIterator[RawDevice]:
    token = server.services.identity.create_token()[0]
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        reply = await stub.Enroll(control_pb2.EnrollRequest(token=token, profile="rpi4"))
        metadata = (
            ("x-edgefleet-device", reply.device_id),
            ("authorization", f"Bearer {reply.device_secret}"),
        )
        device = RawDevice(server, reply.device_id, metadata)
        device.outgoing.put_nowait(hello or hello_message(reply.device_id))
        task = asyncio.create_task(device.run(channel))
        try:
            yield device
        finally:
            device.outgoing.put_nowait(None)
            await asyncio.wait_for(task, 10)


async def test_an_out_of_range_timestamp_is_flagged_not_a_stream_error(
    template: Path, tmp_path: Path
) -> None:
    """Issue 15 item 3: a Timestamp outside protobuf's range ended the stream with INTERNAL, and the agent's
    outbox resent it on every reconnect: the device never reported again."""
    async with orchestrator_in_process(template, tmp_path, secure=False) as server, raw_device(server) as dev:
        bad = window(1)
        bad.start.seconds = 10**13  # year ~318,000
        dev.outgoing.put_nowait(batch(bad))
        dev.outgoing.put_nowait(batch(window(2)))
        await wait_for(
            lambda: (bool(dev.acks) and dev.acks[-1].up_to_sequence == 2) or dev.error is not None, what="ack"
        )
        assert dev.error is None
        assert dev.stored() == [1, 2]
        flagged = next(w for w in server.services.store.windows(device_id=dev.device_id) if w.seq == 1)
        assert any("invalid start timestamp" in f for f in flagged.flags)
