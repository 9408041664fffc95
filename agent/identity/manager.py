"""Who this device is, for the rest of the agent: the current identity and TLS material, the channel and
metadata every call to the orchestrator uses, enrolment when there is no identity yet, the signing keys
to trust, and certificate renewal. Every file it reads or writes goes through the disk thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc

from edgefleet.agent.config import AgentConfig
from edgefleet.agent.connection.http_fetch import HttpAccess
from edgefleet.agent.connection.messages import SigningKey
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.identity.enrolment import enroll
from edgefleet.agent.identity.record import Identity
from edgefleet.agent.identity.renewal import request_renewal
from edgefleet.agent.identity.tls import DeviceTls
from edgefleet.agent.identity.trust import adopt_signing_keys
from edgefleet.core.errors import EdgefleetError, FailedPrecondition

__all__ = ["IdentityManager", "Metadata"]

log = logging.getLogger("edgefleet.agent")
Metadata = tuple[tuple[str, str | bytes], ...]
#: At most one renewal (or renewal attempt) a minute, whatever the validity.
RENEWAL_PAUSE_S = 60.0


class IdentityManager:
    def __init__(self, config: AgentConfig, disk: DiskExecutor) -> None:
        self._config = config
        self._disk = disk
        self.current: Identity | None = None
        self._tls: DeviceTls | None = None
        self._http_tls: ssl.SSLContext | None = None
        #: Device certificates renewed by this process.
        self.renewals = 0

    def metric_labels(self) -> dict[str, str]:
        """``device`` and ``profile`` for every agent series, once enrolled (nothing before)."""
        if self.current is None:
            return {}
        return {"device": self.current.device_id, "profile": self.current.profile or self._config.profile}

    async def load(self) -> None:
        """The identity saved by an earlier enrolment, if any."""
        self.current = await self._disk.run(Identity.load, self._config.data_dir)

    @property
    def insecure(self) -> bool:
        return self._config.insecure or (self.current is not None and not self.current.mtls)

    async def ensure_enrolled(self) -> Identity:
        if self.current is None:
            self.current, self._tls = await enroll(self._config, self._disk)
        return self.current

    def trusted(self) -> dict[str, bytes]:
        return self.current.trusted() if self.current is not None else {}

    async def adopt(self, keys: Sequence[SigningKey]) -> None:
        if self.current is None:
            return
        updated = adopt_signing_keys(self.current, keys)
        if updated is self.current:
            return
        try:
            await self._disk.run(updated.save, self._config.data_dir)
        except OSError as exc:  # a full disk must not break the connection; the next one tries again
            log.warning("cannot save the new signing keys (%s); keeping the current ones for now", exc)
            return
        self.current = updated

    # ---- talking to the orchestrator ----
    def metadata(self) -> Metadata:
        identity = self._enrolled()
        if identity.mtls:  # the certificate says who we are; the header must agree with it
            return (("x-edgefleet-device", identity.device_id),)
        return (
            ("x-edgefleet-device", identity.device_id),
            ("authorization", f"Bearer {identity.secret}"),
        )

    async def channel(self, address: str = "") -> grpc.aio.Channel:
        """A channel to an agents' port (``address``, default the first given): mTLS with the device
        certificate, or plaintext (insecure)."""
        target = address or self._config.orchestrators[0]
        if not self._enrolled().mtls:
            return grpc.aio.insecure_channel(target)
        tls = await self._device_tls()
        return grpc.aio.secure_channel(target, tls.credentials())

    async def http_access(self, url: str) -> HttpAccess | None:
        """How to download ``url`` (None for no URL: FetchArtifact only)."""
        return HttpAccess(await self.http_tls(), self.http_headers(url)) if url else None

    def http_headers(self, url: str) -> dict[str, str]:
        """Who this device is, for an artifact origin: its id, and in insecure mode its bearer secret,
        which goes only to the hosts this agent was given as its orchestrator's (never to a CDN)."""
        headers = {k: v for k, v in self.metadata() if isinstance(v, str)}
        ours = {
            a.rpartition(":")[0].strip("[]")
            for a in (*self._config.orchestrators, *self._config.enroll_addresses)
        }
        if urlsplit(url).hostname not in ours:
            headers.pop("authorization", None)
        return headers

    async def http_tls(self) -> ssl.SSLContext | None:
        """For artifact downloads over HTTPS: the system's CAs and the orchestrator's, and the device
        certificate (the orchestrator's own origin asks for it); None in insecure mode."""
        if not self._enrolled().mtls:
            return None
        if self._http_tls is None:
            self._http_tls = await self._disk.run(_http_context, DeviceTls.directory(self._config.data_dir))
        return self._http_tls

    def _enrolled(self) -> Identity:
        if self.current is None:
            raise FailedPrecondition("this device is not enrolled yet")
        return self.current

    async def _device_tls(self) -> DeviceTls:
        if self._tls is None:
            self._tls = await self._disk.run(DeviceTls.load, self._config.data_dir)
        return self._tls

    # ---- renewal ----
    async def renew_when_due(self, stub: Any, stop: asyncio.Event) -> None:
        """Renew the device certificate once a third of its validity is left (retry every minute on
        failure); the next connection uses the new one."""
        if self.current is None or not self.current.mtls:
            return
        while not stop.is_set():
            tls = await self._device_tls()
            wait = tls.renew_at() - time.time()
            if wait > 0:
                await _wait(stop, min(wait, 3600.0))
                continue
            try:
                renewed = await request_renewal(
                    stub, tls, self._config.name or socket.gethostname(), self.metadata()
                )
                await self._disk.run(renewed.save, self._config.data_dir)
                self._tls = renewed
                self._http_tls = None  # the next download presents the new certificate
                self.renewals += 1
            except EdgefleetError as exc:
                log.warning(
                    "certificate renewal failed (%s); retrying in %.0f s", exc.message, RENEWAL_PAUSE_S
                )
            await _wait(stop, RENEWAL_PAUSE_S)


def _http_context(tls_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=str(tls_dir / "ca.crt"))
    ctx.load_cert_chain(str(tls_dir / "device.pem"))
    return ctx


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
