"""Artifact transfer: FetchArtifact (gRPC stream, 256 KiB chunks) vs a plain HTTP download of the same
20 MB file from nginx on loopback (curl), side by side. Goal: >= 0.5 of the HTTP throughput.
Needs Debian's nginx and curl (apt-get install nginx-light curl); skipped without them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agent.download import ArtifactSpec, Downloader
from orchestrator.config import ServerConfig
from orchestrator.server.app import OrchestratorServer, open_services
from protos.edgefleet.v1 import control_pb2_grpc

SIZE = 20 * 1024 * 1024
RUNS = 5


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fetch_artifact_vs_http(tmp_path: Path) -> None:
    nginx, curl = shutil.which("nginx"), shutil.which("curl")
    if not nginx or not curl:
        pytest.skip("nginx and curl are needed (apt-get install nginx-light curl)")
    asyncio.run(_run(tmp_path, nginx, curl))


async def _run(tmp_path: Path, nginx: str, curl: str) -> None:
    config = ServerConfig(listen="127.0.0.1:0", data_dir=tmp_path / "orch", metrics_listen="")
    services = open_services(config)
    data = os.urandom(SIZE)
    digest = services.artifacts.put(data)
    server = OrchestratorServer(config, services)
    await server.start()
    token = services.fleet.create_token()[0]
    device, secret, keys = services.fleet.enroll(
        token=token, profile="rpi4", name="bench", hardware={}, labels={}
    )
    spec = ArtifactSpec(digest, SIZE, services.signer.sign_digest(digest), services.signer.public.key_id)
    metadata = (("x-edgefleet-device", device.device_id), ("authorization", f"Bearer {secret}"))
    # nginx serving the very same file
    www = tmp_path / "www"
    www.mkdir()
    shutil.copyfile(services.artifacts.path(digest), www / "artifact.bin")
    port = _port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{}}
http {{ access_log off; sendfile on; client_body_temp_path {tmp_path};
  server {{ listen 127.0.0.1:{port}; root {www}; }} }}""")
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.5)
        http, grpc_times = [], []
        import grpc

        async with grpc.aio.insecure_channel(
            server.address, options=[("grpc.max_receive_message_length", 4 << 20)]
        ) as ch:
            stub = control_pb2_grpc.FleetControlStub(ch)
            for i in range(RUNS):
                t0 = time.perf_counter()
                subprocess.run(
                    [curl, "-s", "-o", os.devnull, f"http://127.0.0.1:{port}/artifact.bin"], check=True
                )
                http.append(time.perf_counter() - t0)
                downloader = Downloader(tmp_path / f"agent{i}", lambda: {keys[0].key_id: keys[0].raw})
                t0 = time.perf_counter()
                path = await downloader.fetch(stub, spec, metadata=metadata)  # type: ignore[arg-type]
                grpc_times.append(time.perf_counter() - t0)
                assert path.stat().st_size == SIZE
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await server.stop(0.1)
    best_http, best_grpc = min(http), min(grpc_times)
    mb = SIZE / 1e6
    print(f"\nartifact transfer, {mb:.0f} MB on loopback, best of {RUNS}")
    print(f"  nginx + curl            {mb / best_http:8.0f} MB/s")
    print(f"  FetchArtifact (verified: size, SHA-256, Ed25519, written to disk)  {mb / best_grpc:8.0f} MB/s")
    print(f"  ratio {best_http / best_grpc:.2f} (goal >= 0.5)")
