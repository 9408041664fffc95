"""The orchestrator's artifact origin: ``GET /artifacts/<sha256>`` over HTTPS, with range requests.

aiohttp's ``FileResponse`` answers ``Range`` (206, so an agent resumes where it stopped), ``If-Range`` and
HEAD, and sends the file with ``sendfile`` on a plaintext socket (insecure mode); over TLS the kernel cannot
encrypt, so it reads the file in 1 MiB chunks off the event loop (``_chunked_over_tls``). The TLS settings
are the API port's (the server certificate and key) on a port of its own, and a device proves who it is as
on the agents' port: its client certificate (from this CA), or its id and bearer secret in insecure mode.
It gets only the artifacts of its desired state (``DeploymentService.artifacts_for``) and of the benchmark
jobs addressed to it, like FetchArtifact; a revoked device gets nothing.

Errors are one line of text with the HTTP status of their kind.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

from aiohttp import web, web_fileresponse

from edgefleet.core.errors import EdgefleetError, ErrorCode, NotFound, PermissionDenied, Unauthenticated
from edgefleet.core.ports import bind_error, split_listen
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.server.artifact_access import authorise_artifact
from edgefleet.orchestrator.service.deployments import DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.identity import IdentityService

__all__ = ["PATH", "ArtifactOrigin", "server_ssl_context"]

log = logging.getLogger("edgefleet.server")

#: Where the objects are: ``PATH/<sha256>``.
PATH = "/artifacts"
_STATUS = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.OUT_OF_RANGE: 416,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.RESOURCE_EXHAUSTED: 503,
}
#: Read size when the file cannot go out with sendfile (TLS).
CHUNK = 1024 * 1024


def server_ssl_context(tls_dir: Path) -> ssl.SSLContext:
    """The API port's certificate and key; client certificates from this CA required."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_dir / "server.crt", tls_dir / "server.key")
    ctx.load_verify_locations(tls_dir / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class ArtifactOrigin:
    def __init__(
        self,
        *,
        artifacts: ArtifactStore,
        identity: IdentityService,
        devices: DeviceService,
        deployments: DeploymentService,
        benchmarks: BenchmarkService,
        tls_dir: Path | None,
        metrics: OrchestratorMetrics | None = None,
        grace: float = 1.0,
    ) -> None:
        self._artifacts = artifacts
        self._identity = identity
        self._devices = devices
        self._deployments = deployments
        self._benchmarks = benchmarks
        self._tls_dir = tls_dir
        self._metrics = metrics
        self._grace = grace
        self._runner: web.AppRunner | None = None
        self.address = ""

    @property
    def scheme(self) -> str:
        return "http" if self._tls_dir is None else "https"

    async def start(self, listen: str) -> str:
        """Bind and serve; returns HOST:PORT as bound (port 0 picks a free one)."""
        app = web.Application()
        app.router.add_get(PATH + "/{sha256}", self._get)
        app.on_response_prepare.append(self._count)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self._grace)
        await self._runner.setup()
        host, port = split_listen(listen)
        context = None if self._tls_dir is None else server_ssl_context(self._tls_dir)
        if context is not None:
            _chunked_over_tls()
        site = web.TCPSite(self._runner, host, port, ssl_context=context, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise bind_error(listen, exc) from exc
        bound = self._runner.addresses[0]
        self.address = f"{listen.rpartition(':')[0]}:{bound[1]}"
        return self.address

    async def stop(self) -> None:
        """Close the port, give downloads in flight ``grace`` seconds, then end them."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get(self, request: web.Request) -> web.StreamResponse:
        try:
            sha256 = request.match_info["sha256"].lower()
            path = self._artifacts.path(sha256)  # a malformed id is refused here
            device = await self._device(request)
            await authorise_artifact(self._deployments, self._benchmarks, device, sha256)
            if not await asyncio.to_thread(path.is_file):
                raise NotFound(f"no artifact {sha256}")
        except EdgefleetError as exc:
            return web.Response(status=_STATUS.get(exc.code, 500), text=exc.message + "\n")
        return web.FileResponse(path, chunk_size=CHUNK)  # aiohttp prepares it (once) and sends it

    async def _count(self, request: web.Request, response: web.StreamResponse) -> None:
        """Bytes served: the body's length as aiohttp worked it out from the file, ``Range`` and
        ``If-Range`` (a range: its bytes; a HEAD, a 304 or a 416: none), when its headers go out."""
        if (
            self._metrics is not None
            and isinstance(response, web.FileResponse)
            and request.method == "GET"
            and response.status in (200, 206)
            and response.content_length
        ):
            self._metrics.artifact_bytes.inc(response.content_length)

    async def _device(self, request: web.Request) -> DeviceRecord:
        """The calling device, fresh from the store (its desired state now)."""
        claimed = request.headers.get("x-edgefleet-device", "")
        caller: DeviceRecord | None
        if self._tls_dir is None:
            auth = request.headers.get("Authorization", "")
            secret = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
            caller = await asyncio.to_thread(self._identity.authenticate, claimed, secret)
        else:
            cert = request.transport.get_extra_info("peercert") if request.transport else None
            names = [v for rdn in (cert or {}).get("subject", ()) for k, v in rdn if k == "commonName"]
            if not names:
                raise Unauthenticated("a device certificate is required (enrol first)")
            if claimed and claimed != names[0]:
                raise PermissionDenied(f"this certificate belongs to {names[0]}, not {claimed[:80]!r}")
            caller = self._identity.cached(names[0])
            if caller is None:
                caller = await asyncio.to_thread(self._identity.device_for_certificate, names[0])
        return await asyncio.to_thread(self._devices.get, caller.device_id)


def _chunked_over_tls() -> None:
    """Over TLS the kernel cannot send the file (Python's ssl has no kernel TLS), and aiohttp hands it to
    asyncio's ``loop.sendfile`` fallback, which reads 256 KiB blocks on the default executor and waits for
    the TLS transport to drain after each: 0.27x nginx's HTTPS on loopback (BENCHMARKS.md, "Artifact
    transfer"). aiohttp's own fallback reads ``CHUNK`` (1 MiB) blocks off the loop and writes each one:
    2.3x faster. This is aiohttp's documented switch (``AIOHTTP_NOSENDFILE``), which it reads at import,
    set for this process: an orchestrator's origin is TLS or plaintext for the life of the process."""
    setattr(web_fileresponse, "NOSENDFILE", True)  # noqa: B010 - a Final constant, set on purpose
