"""FetchArtifact's transfer slots (``server/transfers.py``), through a real orchestrator and real mTLS
channels: however many downloads run at once, at most ``artifact_transfer_slots`` chunks are in flight, and
the others wait their turn and complete byte for byte. (A device that stops reading: tests/unit/test_transfer_slots.py;
over loopback, gRPC's and the kernel's buffers take a whole bundle in, so it cannot be held up here.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc

from edgefleet.agent.identity.tls import DeviceTls
from edgefleet.v1 import control_pb2, control_pb2_grpc
from tests.helpers.fleet import enrolled_and_assigned, orchestrator_in_process


async def _download(channel: grpc.aio.Channel, request: control_pb2.FetchArtifactRequest) -> bytes:
    stub: Any = control_pb2_grpc.FleetControlStub(channel)
    return b"".join([chunk.data async for chunk in stub.FetchArtifact(request)])


async def test_downloads_share_the_slots_and_each_completes(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, artifact_transfer_slots=1) as server:
        a = await enrolled_and_assigned(server, tmp_path / "agent")
        data = server.services.variants.artifact(a.desired.bundle_sha256)
        request = control_pb2.FetchArtifactRequest(sha256=a.desired.bundle_sha256, max_chunk_bytes=4096)
        peak = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, server.transfers.sending)
                await asyncio.sleep(0)

        credentials = DeviceTls.load(tmp_path / "agent").credentials()
        async with grpc.aio.secure_channel(server.address, credentials) as channel:
            watcher = asyncio.create_task(watch())
            got = await asyncio.gather(*(_download(channel, request) for _ in range(4)))
            done.set()
            await watcher
        assert got == [data] * 4  # every download whole and right, though they took turns
        assert peak == 1
        assert (
            server.metrics.registry.get_sample_value("edgefleet_artifact_chunks_waited_total") or 0
        ) > 0  # they did wait for each other
