"""Artifacts from an HTTP origin: the orchestrator's own (HTTPS, the API port's certificate, client
certificates, range requests), a dead one and a hostile one, with the agent's verification and
FetchArtifact as the fallback. Real servers throughout: the orchestrator in process, its aiohttp origin,
a real agent, and an aiohttp server that lies."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web

from edgefleet.agent.connection.download import Downloader, HttpAccess
from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.identity.tls import DeviceTls
from edgefleet.core.errors import PermissionDenied
from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    committed,
    enrolled_and_assigned,
    orchestrator_in_process,
    wait_for,
)


class Credentials:
    """The device's side as the downloader sees it: trusted keys and how to reach origins."""

    def __init__(self, keys: Mapping[str, bytes], access: HttpAccess) -> None:
        self.keys, self.access = dict(keys), access

    def trusted(self) -> dict[str, bytes]:
        return self.keys

    async def http_access(self, url: str) -> HttpAccess:
        return self.access


def _device_context(data_dir: Path, *, certificate: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.crt"))
    if certificate:
        ctx.load_cert_chain(str(data_dir / "tls" / "device.pem"))
    return ctx


async def _get(url: str, ctx: ssl.SSLContext, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ctx, headers=headers) as r:
        return r.status, await r.read()


def _spec(server: OrchestratorServer, variant_id: str, url: str) -> ArtifactSpec:
    b = server.services.bundles.ensure(variant_id)
    return ArtifactSpec(b.sha256, b.size, b.signature, b.key_id, url)


async def test_agents_download_from_the_origin_authorised_like_fetch_artifact(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path, artifact_listen="127.0.0.1:0") as server:
        assert server.artifact_url.startswith("https://127.0.0.1:")
        token = server.services.identity.create_token(uses=2)[0]
        cfg = agent_config(server, tmp_path / "agent", "rpi4", token)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            server.push([a])
            await wait_for(lambda: committed(agent, a.desired.variant_id), what="commit")
        # the whole bundle came over HTTPS, with the device's certificate; nothing fell back
        assert agent.downloader.http_bytes == a.desired.bundle_size
        assert agent.downloader.fallbacks == 0

        own = f"{server.artifact_url}/{a.desired.bundle_sha256}"
        ctx = _device_context(tmp_path / "agent")
        status, body = await _get(own, ctx)
        assert (status, len(body)) == (200, a.desired.bundle_size)
        status, tail = await _get(own, ctx, {"Range": "bytes=1000-"})
        assert (status, tail) == (206, body[1000:])
        # only the artifacts of the device's desired state, as FetchArtifact
        other = next(
            c
            for c in server.services.variants.list_variants("digits")
            if c.variant_id != a.desired.variant_id
        )
        foreign = server.services.bundles.ensure(other.variant_id).sha256
        status, text = await _get(f"{server.artifact_url}/{foreign}", ctx)
        assert status == 403
        assert text.decode().count("\n") == 1
        assert "not part of" in text.decode()
        status, text = await _get(f"{server.artifact_url}/not-a-digest", ctx)
        assert status == 400
        # no client certificate: no TLS session at all
        with pytest.raises(aiohttp.ClientError):
            await _get(own, _device_context(tmp_path / "agent", certificate=False))
        # revoked: refused
        server.services.identity.revoke(a.device_id, "test")
        status, text = await _get(own, ctx)
        assert status == 401
        assert "revoked" in text.decode()


async def test_resume_with_a_range_and_fall_back_to_fetch_artifact(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, artifact_listen="127.0.0.1:0") as server:
        a = await enrolled_and_assigned(server, tmp_path / "agent")
        keys = {k.key_id: k.raw for k in server.services.identity.trusted_keys()}
        data = server.services.variants.artifact(a.desired.bundle_sha256)
        ctx = _device_context(tmp_path / "agent")
        tls = DeviceTls.load(tmp_path / "agent")
        disk = DiskExecutor()
        try:
            # a partial file from an earlier attempt: the rest comes with a range request
            spec = _spec(server, a.desired.variant_id, f"{server.artifact_url}/{a.desired.bundle_sha256}")
            downloader = Downloader(tmp_path / "d1", Credentials(keys, HttpAccess(ctx)), disk)
            downloader.part_path(spec).parent.mkdir(parents=True)
            downloader.part_path(spec).write_bytes(data[:5000])
            async with grpc.aio.secure_channel(server.address, tls.credentials()) as channel:
                path = await downloader.fetch(channel, spec, metadata=())
                assert path.read_bytes() == data
                assert (downloader.http_bytes, downloader.fallbacks) == (len(data) - 5000, 0)

                # a dead origin: FetchArtifact from where the file stopped
                dead = _spec(server, a.desired.variant_id, f"https://127.0.0.1:1/{spec.sha256}")
                downloader = Downloader(tmp_path / "d2", Credentials(keys, HttpAccess(ctx)), disk)
                path = await downloader.fetch(channel, dead, metadata=())
                assert path.read_bytes() == data
                assert (downloader.http_bytes, downloader.fallbacks) == (0, 1)

                # a hostile origin: the right size, other bytes. Nothing of it is installed; the artifact
                # comes again over FetchArtifact and verifies
                async with _lying_origin(len(data)) as liar:
                    bad = _spec(server, a.desired.variant_id, f"{liar}/{spec.sha256}")
                    downloader = Downloader(tmp_path / "d3", Credentials(keys, HttpAccess()), disk)
                    path = await downloader.fetch(channel, bad, metadata=())
                    assert path.read_bytes() == data
                    assert (downloader.http_bytes, downloader.fallbacks) == (len(data), 1)

                    # an untrusted signer is refused before any byte moves, URL or not
                    downloader = Downloader(tmp_path / "d4", Credentials({}, HttpAccess()), disk)
                    with pytest.raises(PermissionDenied, match="untrusted key"):
                        await downloader.fetch(channel, bad, metadata=())
                    assert downloader.http_bytes == 0
        finally:
            await asyncio.to_thread(disk.close)


class _lying_origin:  # noqa: N801 - an async context manager used like a function
    def __init__(self, size: int) -> None:
        self.size = size
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> str:
        async def lie(_: web.Request) -> web.Response:
            return web.Response(body=b"\x00" * self.size)

        app = web.Application()
        app.router.add_get("/{sha}", lie)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_bytes_served_count_what_was_asked(template: Path, tmp_path: Path) -> None:
    """edgefleet_artifact_bytes_served counts the bytes a request asked for: a range request its range, a
    HEAD nothing, a whole GET the file."""
    async with orchestrator_in_process(template, tmp_path, artifact_listen="127.0.0.1:0") as server:
        a = await enrolled_and_assigned(server, tmp_path / "agent")
        url = f"{server.artifact_url}/{a.desired.bundle_sha256}"
        ctx = _device_context(tmp_path / "agent")
        registry = server.metrics.registry

        def served() -> float:
            return registry.get_sample_value("edgefleet_artifact_bytes_served_total") or 0.0

        before = served()
        status, body = await _get(url, ctx, {"Range": "bytes=1000-1999"})
        assert (status, len(body)) == (206, 1000)
        assert served() - before == 1000
        status, tail = await _get(url, ctx, {"Range": "bytes=-300"})
        assert (status, len(tail)) == (206, 300)
        assert served() - before == 1300
        async with aiohttp.ClientSession() as session, session.head(url, ssl=ctx) as r:
            assert r.status == 200
        assert served() - before == 1300  # a HEAD sends no body
        status, whole = await _get(url, ctx)
        assert (status, len(whole)) == (200, a.desired.bundle_size)
        assert served() - before == 1300 + a.desired.bundle_size
