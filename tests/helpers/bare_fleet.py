"""The floor for fleet scale: a bare grpc.aio server (no edgefleet code) holding N idle mTLS streams.

Same transport as the orchestrator (mTLS on the agents' port, server TLS and health on the API port, the
same pending-call limit) and the same shape of stream (one message each way, then idle), so that
connect time, RSS per stream, CPU and health latency can be put beside the orchestrator's.

    python -m tests.helpers.bare_fleet serve TLS_DIR          prints "listening AGENTS API"
    python -m tests.helpers.bare_fleet connect ADDR TLS_DIR N  prints "connected" when all N streams are up,
                                                               holds them until stdin closes
"""

from __future__ import annotations

import asyncio
import math
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.orchestrator.security.ca import CertificateAuthority, init_tls
from edgefleet.orchestrator.server.limits import (
    MAX_PENDING_CALLS,
    MAX_UNREQUESTED_SECONDS,
    raise_open_file_limit,
)

METHOD = "/bare.Fleet/Hold"


async def _hold(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for _ in requests:  # the "Hello"
        yield b"config"
        break
    async for _ in requests:  # then idle until the client goes
        pass


async def _serve(tls_dir: Path, split: bool) -> None:
    options = [
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
        ("grpc.server_max_unrequested_time_in_server", MAX_UNREQUESTED_SECONDS),
    ]
    server = grpc.aio.server(options=options)
    handler = grpc.stream_stream_rpc_method_handler(_hold)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("bare.Fleet", {"Hold": handler})])
    health = HealthServicer()
    api_server = grpc.aio.server(options=options) if split else server
    health_pb2_grpc.add_HealthServicer_to_server(health, api_server)
    pair = [((tls_dir / "server.key").read_bytes(), (tls_dir / "server.crt").read_bytes())]
    ca = (tls_dir / "ca.crt").read_bytes()
    agents = server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials(pair, root_certificates=ca, require_client_auth=True)
    )
    api = api_server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(pair))
    await server.start()
    if split:
        await api_server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"listening 127.0.0.1:{agents} 127.0.0.1:{api}", flush=True)
    await server.wait_for_termination()


async def _connect(address: str, tls_dir: Path, n: int) -> None:
    ca = CertificateAuthority.load(tls_dir)
    key_pem, csr_pem = new_key_and_csr("bare")
    cert_pem = ca.sign_device(ca.check_csr(csr_pem), "bare")
    creds = grpc.ssl_channel_credentials(ca.pem, key_pem, cert_pem)
    channels = [grpc.aio.secure_channel(address, creds) for _ in range(n)]
    stop = asyncio.Event()
    up: list[asyncio.Future[None]] = [asyncio.get_running_loop().create_future() for _ in range(n)]

    async def one(channel: grpc.aio.Channel, ready: asyncio.Future[None]) -> None:
        """One stream, reopened with full-jitter backoff when it fails (as the simulated agents do)."""

        async def requests() -> AsyncIterator[bytes]:
            yield b"hello"
            await stop.wait()

        delay = 0.5
        while not stop.is_set():
            call = channel.stream_stream(METHOD)(requests())
            try:
                async for _ in call:
                    if not ready.done():
                        ready.set_result(None)
                    delay = 0.5
                await call  # the stream ended: status
            except grpc.aio.AioRpcError:
                pass
            finally:
                call.cancel()
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 30.0)

    tasks = [asyncio.create_task(one(c, f)) for c, f in zip(channels, up, strict=True)]
    await asyncio.gather(*up)
    print("connected", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # hold until the parent closes our stdin
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class BareRun:
    streams: int
    #: nan: a client process could not bring all its streams up (it exited: see the benchmark's output)
    connected_s: float
    rss_idle: int
    rss_connected: int
    cpu_seconds: float
    health_s: list[float] = field(default_factory=list)

    @property
    def rss_per_stream(self) -> float:
        return (self.rss_connected - self.rss_idle) / self.streams


@contextmanager
def _process(*args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.bare_fleet", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def run_bare(tmp_path: Path, streams: int, *, processes: int, probe: str, split: bool = False) -> BareRun:
    """N idle mTLS streams from ``processes`` client processes to a bare server; health polled by the
    ``probe`` program (tests/helpers/load.PROBE) in its own process throughout."""
    tls = tmp_path / "bare-tls"
    if not tls.exists():
        init_tls(tls, ("127.0.0.1",))
    with _process("serve", str(tls), *(["split"] if split else [])) as server:
        assert server.stdout is not None
        _, agents, api = server.stdout.readline().split()
        ps = psutil.Process(server.pid)
        time.sleep(0.5)
        rss_idle, cpu = ps.memory_info().rss, ps.cpu_times()
        prober = subprocess.Popen(
            [sys.executable, "-c", probe, api, str(tls / "ca.crt")], stdout=subprocess.PIPE, text=True
        )
        share = [streams // processes + (i < streams % processes) for i in range(processes)]
        t0 = time.monotonic()
        clients = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.helpers.bare_fleet", "connect", agents, str(tls), str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in share
            if n
        ]
        said = [c.stdout.readline().strip() if c.stdout is not None else "" for c in clients]
        connected_s = time.monotonic() - t0 if said == ["connected"] * len(clients) else math.nan
        time.sleep(1.0)
        rss_connected = ps.memory_info().rss
        cpu_after = ps.cpu_times()
        for c in clients:
            if c.stdin is not None:
                c.stdin.close()
            try:
                c.wait(timeout=60)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        prober.terminate()
        out, _ = prober.communicate(timeout=10)
    health = [
        float(rest) for line in out.splitlines() if (rest := line.partition(" ")[2]) and "failed" not in rest
    ]
    return BareRun(
        streams,
        connected_s,
        rss_idle,
        rss_connected,
        cpu_after.user + cpu_after.system - cpu.user - cpu.system,
        health,
    )


if __name__ == "__main__":
    raise_open_file_limit()
    if sys.argv[1] == "serve":
        asyncio.run(_serve(Path(sys.argv[2]), split=sys.argv[3:] == ["split"]))
    else:
        asyncio.run(_connect(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
