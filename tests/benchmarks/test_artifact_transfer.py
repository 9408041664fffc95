"""Artifact transfer: the same 20 MiB artifact from an ``edgefleet serve`` process (FetchArtifact on its
agents' port, and its HTTP(S) artifact origin, server/origin.py) and from nginx on loopback, side by side
and like for like, twice: all plaintext (``edgefleet serve --insecure``: the origin sends with
``sendfile``, the device proves who it is with its bearer secret; nginx with ``sendfile on``), then all
TLS (mTLS: the API port's server certificate and the device's client certificate, from the same CA, on
every path; nginx with ``ssl_verify_client on``). The orchestrator authorises every download (the device's
desired state names the artifact); nginx serves the file to anyone with a certificate.

* wire: the bytes received and dropped (``curl -o /dev/null`` from nginx and from the origin: the same
  client, so the servers are compared; the gRPC stream drained for FetchArtifact);
* to disk: written and fsynced (``curl -o FILE`` and an fsync, from nginx; the agent's own Downloader,
  which also checks size, SHA-256 and the Ed25519 signature, from the origin, from nginx and over
  FetchArtifact).

Goal (issue 18): the agent's download from the origin >= 0.7x nginx+curl. Needs Debian's nginx and curl
(``apt-get install nginx-light curl``; ``make bench`` installs them); skipped without them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from edgefleet.agent.connection.download import CHUNK, Downloader, HttpAccess
from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.fleet.model import Desired
from edgefleet.orchestrator.security import init_tls
from edgefleet.orchestrator.server.app import open_services
from edgefleet.v1 import control_pb2, control_pb2_grpc
from tests.helpers import processes

SIZE = 20 * 1024 * 1024
RUNS = 7
Metadata = tuple[tuple[str, str], ...]


@dataclasses.dataclass
class _Device:
    """One enrolled device, as each client here presents it."""

    spec: ArtifactSpec  # no URL: FetchArtifact
    keys: dict[str, bytes]
    metadata: Metadata  # gRPC metadata, and the origin's headers
    tls_dir: Path  # ca.crt (both modes); device.crt and device.key with TLS
    secure: bool

    def ssl(self) -> ssl.SSLContext | None:
        if not self.secure:
            return None
        ctx = ssl.create_default_context(cafile=str(self.tls_dir / "ca.crt"))
        ctx.load_cert_chain(self.tls_dir / "device.crt", self.tls_dir / "device.key")
        return ctx

    def curl_args(self) -> list[str]:
        if not self.secure:
            return [a for k, v in self.metadata for a in ("-H", f"{k}: {v}")]
        d = self.tls_dir
        return [
            "--cacert",
            str(d / "ca.crt"),
            "--cert",
            str(d / "device.crt"),
            "--key",
            str(d / "device.key"),
        ]

    def channel(self, address: str) -> grpc.aio.Channel:
        if not self.secure:
            return grpc.aio.insecure_channel(address)
        d = self.tls_dir
        creds = grpc.ssl_channel_credentials(
            (d / "ca.crt").read_bytes(), (d / "device.key").read_bytes(), (d / "device.crt").read_bytes()
        )
        return grpc.aio.secure_channel(address, creds)


class _Credentials:
    """The downloader's view of the device: trusted keys, and how it reaches origins (as the agent's
    IdentityManager.http_access: its TLS context with the device certificate, or its bearer headers)."""

    def __init__(self, device: _Device) -> None:
        self.device = device
        self.access = HttpAccess(device.ssl(), dict(device.metadata))

    def trusted(self) -> dict[str, bytes]:
        return self.device.keys

    async def http_access(self, url: str) -> HttpAccess | None:
        return self.access


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


def _enrol(data: Path, secure: bool) -> tuple[str, _Device]:
    """The orchestrator's state, prepared here (then served by its own process): the artifact, one
    device whose desired state names it."""
    if secure:
        init_tls(data / "tls", ("127.0.0.1", "localhost"))
    config = ServerConfig(
        listen="127.0.0.1:0",
        data_dir=data,
        metrics_listen="",
        insecure=not secure,
        api_listen="127.0.0.1:0" if secure else "",
    )
    services = open_services(config)
    digest = services.artifacts.put(os.urandom(SIZE))
    key_pem, csr_pem = new_key_and_csr("bench") if secure else (b"", b"")
    enrolled = services.identity.enroll(
        token=services.identity.create_token()[0], profile="rpi4", name="bench", labels={}, csr_pem=csr_pem
    )
    keys = {k.key_id: k.raw for k in enrolled.signing_keys}
    spec = ArtifactSpec(digest, SIZE, services.signer.sign_digest(digest), services.signer.public.key_id)
    desired = Desired(
        1, "x" * 64, "bench", "fp32", "w1.0", digest, SIZE, spec.signature, spec.key_id, "", 1.0, "litert"
    )
    services.store.put_device(dataclasses.replace(enrolled.device, desired=desired))
    source = str(services.artifacts.path(digest))
    services.store.close()
    device_id = enrolled.device.device_id
    tls_dir = data.parent / f"device-{'tls' if secure else 'plain'}"
    tls_dir.mkdir()
    if secure:
        shutil.copyfile(data / "tls" / "ca.crt", tls_dir / "ca.crt")
        (tls_dir / "device.key").write_bytes(key_pem)
        (tls_dir / "device.crt").write_bytes(enrolled.certificate_pem)
        metadata: Metadata = (("x-edgefleet-device", device_id),)
    else:
        metadata = (("x-edgefleet-device", device_id), ("authorization", f"Bearer {enrolled.secret}"))
    return source, _Device(spec, keys, metadata, tls_dir, secure)


def _nginx_conf(root: Path, www: Path, port: int, tls: Path | None) -> Path:
    ssl_lines = (
        ""
        if tls is None
        else f"ssl_certificate {tls}/server.crt; ssl_certificate_key {tls}/server.key; "
        f"ssl_client_certificate {tls}/ca.crt; ssl_verify_client on;"
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the files under pytest's 0700 tree
    conf = root / "nginx.conf"
    conf.write_text(f"""daemon off; {user} pid {root}/nginx.pid; error_log {root}/error.log;
events {{}}
http {{ access_log off; sendfile on; client_body_temp_path {root};
  server {{ listen 127.0.0.1:{port}{" ssl" if tls else ""}; root {www}; {ssl_lines} }} }}""")
    return conf


def _measure(tmp_path: Path, nginx: str, curl: str, secure: bool) -> dict[str, float]:
    """Best-of-RUNS seconds per path, for one mode."""
    data = tmp_path / "orch"
    source, device = _enrol(data, secure)
    www = tmp_path / "www"
    www.mkdir()
    shutil.copyfile(source, www / "artifact.bin")
    nginx_port, origin_port = _port(), _port()
    scheme = "https" if secure else "http"
    conf = _nginx_conf(tmp_path, www, nginx_port, data / "tls" if secure else None)
    plain_url = f"{scheme}://127.0.0.1:{nginx_port}/artifact.bin"
    origin_url = f"{scheme}://127.0.0.1:{origin_port}/artifacts/{device.spec.sha256}"
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.DEVNULL)
    env = {"EDGEFLEET_ARTIFACT_LISTEN": f"127.0.0.1:{origin_port}"}
    out: dict[str, float] = {}
    try:
        with processes.orchestrator(data, env=env, secure=secure) as (_, served):
            time.sleep(0.3)

            def curl_drop(url: str, auth: list[str]) -> Callable[[int], None]:
                def run(_: int) -> None:
                    subprocess.run([curl, "-sSf", *auth, "-o", os.devnull, url], check=True)

                return run

            def curl_disk(i: int) -> None:
                target = tmp_path / f"curl{i}.bin"
                subprocess.run([curl, "-sSf", *device.curl_args(), "-o", str(target), plain_url], check=True)
                fd = os.open(target, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
                assert target.stat().st_size == SIZE
                target.unlink()

            def agent_disk(url: str, name: str) -> Callable[[int], None]:
                def run(i: int) -> None:
                    spec = dataclasses.replace(device.spec, url=url)
                    downloader = asyncio.run(_download(served.agents, device, spec, tmp_path / f"{name}{i}"))
                    assert downloader.fallbacks == 0
                    assert downloader.http_bytes == (SIZE if url else 0)

                return run

            def grpc_drop(_: int) -> None:
                asyncio.run(_drain(served.agents, device))

            auth = device.curl_args()
            out["wire nginx+curl"] = _best(curl_drop(plain_url, auth))
            out["wire origin+curl"] = _best(curl_drop(origin_url, auth))
            out["wire FetchArtifact"] = _best(grpc_drop)
            out["disk nginx+curl"] = _best(curl_disk)
            out["disk origin+agent"] = _best(agent_disk(origin_url, "origin"))
            out["disk nginx+agent"] = _best(agent_disk(plain_url, "nginx"))
            out["disk FetchArtifact+agent"] = _best(agent_disk("", "grpc"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return out


@pytest.mark.timeout(900)
def test_artifact_transfer_origin_vs_nginx(tmp_path: Path) -> None:
    nginx, curl = shutil.which("nginx"), shutil.which("curl")
    if not nginx or not curl:
        pytest.skip("nginx and curl are needed (apt-get install nginx-light curl)")
    load_before = os.getloadavg()[0]
    modes = {}
    for name, secure in (("plaintext", False), ("TLS", True)):
        (tmp_path / name).mkdir()
        modes[name] = _measure(tmp_path / name, nginx, curl, secure)
    mb = SIZE / 1e6
    print(
        f"\nartifact transfer, {mb:.0f} MB on loopback, best of {RUNS}, orchestrator in its own process; "
        f"MB/s and the ratio to nginx+curl; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| path | plaintext MB/s | ratio | TLS (mTLS) MB/s | ratio |")
    print("|---|---|---|---|---|")
    names = {
        "wire nginx+curl": "wire: nginx, curl",
        "wire origin+curl": "wire: edgefleet origin, curl",
        "wire FetchArtifact": "wire: FetchArtifact (gRPC stream drained)",
        "disk nginx+curl": "to disk: nginx, curl (fsynced)",
        "disk origin+agent": "to disk: edgefleet origin, agent downloader (fsynced, verified)",
        "disk nginx+agent": "to disk: nginx, agent downloader (fsynced, verified)",
        "disk FetchArtifact+agent": "to disk: FetchArtifact, agent downloader (fsynced, verified)",
    }
    for key, label in names.items():
        base = "wire nginx+curl" if key.startswith("wire") else "disk nginx+curl"
        cells = [f"{mb / modes[m][key]:,.0f} | {modes[m][base] / modes[m][key]:.2f}x" for m in modes]
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"goal: the agent's download from the origin >= 0.7x nginx+curl; agent chunk {CHUNK // 1024} KiB")


async def _drain(address: str, device: _Device) -> None:
    async with device.channel(address) as channel:
        stub = control_pb2_grpc.FleetControlStub(channel)
        request = control_pb2.FetchArtifactRequest(sha256=device.spec.sha256, max_chunk_bytes=CHUNK)
        received = 0
        async for chunk in stub.FetchArtifact(request, metadata=device.metadata):
            received += len(chunk.data)
        assert received == SIZE


async def _download(address: str, device: _Device, spec: ArtifactSpec, root: Path) -> Downloader:
    disk = DiskExecutor()
    try:
        downloader = Downloader(root, _Credentials(device), disk)
        async with device.channel(address) as channel:
            path = await downloader.fetch(channel, spec, metadata=device.metadata)
        assert path.stat().st_size == SIZE
        await disk.run(path.unlink)
        return downloader
    finally:
        await asyncio.to_thread(disk.close)
