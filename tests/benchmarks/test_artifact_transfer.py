"""Artifact transfer: FetchArtifact from an ``edgefleet serve`` process vs a plain HTTP download of the same
20 MiB file from nginx on loopback (curl), side by side and like for like:

* wire: the bytes received and dropped (gRPC stream drained; ``curl -o /dev/null``);
* to disk: written and fsynced (the agent's Downloader, which also checks size, SHA-256 and the Ed25519
  signature; ``curl -o FILE`` followed by an fsync).

Goal: >= 0.5 of the HTTP throughput. Needs Debian's nginx and curl (``apt-get install nginx-light curl``);
skipped without them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from edgefleet.agent.connection.download import CHUNK, Downloader, HttpAccess
from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.fleet.model import Desired
from edgefleet.orchestrator.server.app import open_services
from edgefleet.v1 import control_pb2, control_pb2_grpc
from tests.helpers import processes

SIZE = 20 * 1024 * 1024
RUNS = 7


class _Keys:
    """The downloader's view of a device here: trusted keys, and no HTTP origin (FetchArtifact only)."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def trusted(self) -> dict[str, bytes]:
        return self.keys

    async def http_access(self, url: str) -> HttpAccess | None:
        return None


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _best(run: Callable[[int], None]) -> float:
    times = []
    for i in range(RUNS):
        t0 = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - t0)
    return min(times)


def test_fetch_artifact_vs_http(tmp_path: Path) -> None:
    nginx, curl = shutil.which("nginx"), shutil.which("curl")
    if not nginx or not curl:
        pytest.skip("nginx and curl are needed (apt-get install nginx-light curl)")
    # The orchestrator's state is prepared here, then served by its own `edgefleet serve` process.
    config = ServerConfig(
        listen="127.0.0.1:0", data_dir=tmp_path / "orch", metrics_listen="", insecure=True, api_listen=""
    )
    services = open_services(config)
    digest = services.artifacts.put(os.urandom(SIZE))
    enrolled = services.identity.enroll(
        token=services.identity.create_token()[0], profile="rpi4", name="bench", labels={}
    )
    device, secret, keys = enrolled.device, enrolled.secret, enrolled.signing_keys
    spec = ArtifactSpec(digest, SIZE, services.signer.sign_digest(digest), services.signer.public.key_id)
    # a device fetches only what its desired state names: make the test artifact that
    desired = Desired(
        1, "x" * 64, "bench", "fp32", "w1.0", digest, SIZE, spec.signature, spec.key_id, "", 1.0, "litert"
    )
    services.store.put_device(dataclasses.replace(device, desired=desired))
    source = services.artifacts.path(digest)
    services.store.close()
    metadata = (("x-edgefleet-device", device.device_id), ("authorization", f"Bearer {secret}"))
    www = tmp_path / "www"
    www.mkdir()
    shutil.copyfile(source, www / "artifact.bin")
    port = _port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; sendfile on; client_body_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port}; root {www}; }} }}""")
    url = f"http://127.0.0.1:{port}/artifact.bin"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.DEVNULL)
    try:
        with processes.orchestrator(config.data_dir, secure=False) as (_, served):
            address = served.agents
            time.sleep(0.3)

            def curl_drop(_: int) -> None:
                subprocess.run([curl, "-s", "-o", os.devnull, url], check=True)

            def curl_disk(i: int) -> None:
                out = tmp_path / f"curl{i}.bin"
                subprocess.run([curl, "-s", "-o", str(out), url], check=True)
                fd = os.open(out, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)

            def grpc_drop(_: int) -> None:
                asyncio.run(_drain(address, digest, metadata))

            def grpc_disk(i: int) -> None:
                disk = DiskExecutor()
                downloader = Downloader(tmp_path / f"agent{i}", _Keys({keys[0].key_id: keys[0].raw}), disk)
                path = asyncio.run(_download(address, downloader, spec, metadata))
                disk.close()
                assert path.stat().st_size == SIZE

            http_wire, http_disk = _best(curl_drop), _best(curl_disk)
            grpc_wire, grpc_disk_t = _best(grpc_drop), _best(grpc_disk)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    mb = SIZE / 1e6
    print(f"\nartifact transfer, {mb:.0f} MB on loopback, best of {RUNS}, orchestrator in its own process")
    print(f"  {'':52} {'HTTP (nginx+curl)':>18} {'FetchArtifact':>14} {'ratio':>6}")
    for name, http, ours in (
        ("wire (received and dropped)", http_wire, grpc_wire),
        ("to disk (fsynced; ours also verified)", http_disk, grpc_disk_t),
    ):
        print(f"  {name:52} {mb / http:13.0f} MB/s {mb / ours:9.0f} MB/s {http / ours:6.2f}")
    print(f"  goal: ratio >= 0.5; chunk {CHUNK // 1024} KiB")


async def _drain(address: str, digest: str, metadata: tuple[tuple[str, str], ...]) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = control_pb2_grpc.FleetControlStub(channel)
        request = control_pb2.FetchArtifactRequest(sha256=digest, max_chunk_bytes=CHUNK)
        received = 0
        async for chunk in stub.FetchArtifact(request, metadata=metadata):
            received += len(chunk.data)
        assert received == SIZE


async def _download(
    address: str, downloader: Downloader, spec: ArtifactSpec, metadata: tuple[tuple[str, str], ...]
) -> Path:
    async with grpc.aio.insecure_channel(address) as channel:
        return await downloader.fetch(channel, spec, metadata=metadata)  # type: ignore[arg-type]
