"""Artifact bytes over HTTP(S) from any origin (the orchestrator's, nginx, a CDN, an S3-compatible store).

A partial download resumes with ``Range: bytes=<offset>-`` (206 and a ``Content-Range`` that starts there);
an origin that ignores the range (200) sends the whole file again and the partial one is started afresh.
Bytes go to the disk thread in chunks while the next ones arrive (at most ``_IN_FLIGHT`` chunks queued),
and are hashed there as they are written: verification is the Downloader's, exactly as for FetchArtifact.

Any failure of the origin (unreachable, TLS, a non-2xx status, a short or overlong body) is ``OriginFailed``:
the Downloader falls back to FetchArtifact from where the file stopped.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.diskio import DiskExecutor

__all__ = ["HttpAccess", "OriginFailed", "http_transfer"]

_IN_FLIGHT = 4
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class OriginFailed(Exception):
    """The origin did not deliver (the message says why, in one line)."""


class PartFile(Protocol):
    """The partial download (``download._Part``); every method runs on the disk thread."""

    offset: int

    def append(self, data: bytes) -> None: ...

    def reset(self) -> None: ...

    def sync_and_close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpAccess:
    """How to reach origins: the TLS context (system CAs, the orchestrator's CA, the device certificate;
    None: the defaults) and the headers that say who the device is."""

    ssl: ssl.SSLContext | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


async def http_transfer(
    url: str,
    spec: ArtifactSpec,
    part: PartFile,
    disk: DiskExecutor,
    access: HttpAccess,
    *,
    chunk_bytes: int,
    on_bytes: Callable[[int], Any],
) -> None:
    """Append the rest of the artifact to ``part``; ``on_bytes(n)`` after each chunk is written."""
    import aiohttp  # only devices told of an artifact URL load it

    headers = dict(access.headers)
    start = part.offset
    if start:
        headers["Range"] = f"bytes={start}-"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=60)
    pending: deque[asyncio.Future[None]] = deque()
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
            session.get(url, headers=headers, ssl=access.ssl or True) as response,
        ):
            start = await _check(response, url, spec, start)
            if start == 0 and part.offset:
                await disk.run(part.reset)  # the origin sent the whole file: start afresh
            received = start
            buffer = bytearray()
            async for data in response.content.iter_chunked(chunk_bytes):
                received += len(data)
                if received > spec.size:
                    raise OriginFailed(f"{url} sent more than the announced {spec.size} bytes")
                buffer += data
                if len(buffer) >= chunk_bytes:
                    await _write(disk, part, bytes(buffer), pending, on_bytes)
                    buffer.clear()
            if buffer:
                await _write(disk, part, bytes(buffer), pending, on_bytes)
            if received != spec.size:
                raise OriginFailed(f"{url} ended after {received} of {spec.size} bytes")
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
        await _settle(pending)
        raise OriginFailed(f"{url}: {' '.join(str(exc).split()) or type(exc).__name__}") from exc
    except BaseException:
        await _settle(pending)
        raise
    while pending:
        await pending.popleft()
    await disk.run(part.sync_and_close)


async def _check(response: Any, url: str, spec: ArtifactSpec, start: int) -> int:
    """Where the body starts in the file (``start``, or 0 when the origin ignored the range)."""
    if response.status == 200:
        length = response.content_length
        if length is not None and length != spec.size:
            raise OriginFailed(f"{url} has {length} bytes, expected {spec.size}")
        return 0
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != start:
            raise OriginFailed(f"{url} answered a range from byte {start} with {match and match.group(0)!r}")
        if match.group(3) != "*" and int(match.group(3)) != spec.size:
            raise OriginFailed(f"{url} has {match.group(3)} bytes, expected {spec.size}")
        return start
    text = (await response.text(errors="replace"))[:200]
    raise OriginFailed(f"{url} answered HTTP {response.status}: {' '.join(text.split()) or response.reason}")


async def _write(
    disk: DiskExecutor,
    part: PartFile,
    data: bytes,
    pending: deque[asyncio.Future[None]],
    on_bytes: Callable[[int], Any],
) -> None:
    """Queue ``data`` for the disk thread (in order: one thread); wait only when too much is queued."""

    async def append() -> None:
        await disk.run(part.append, data)
        on_bytes(len(data))

    pending.append(asyncio.ensure_future(append()))
    while len(pending) >= _IN_FLIGHT or (pending and pending[0].done()):
        await pending.popleft()


async def _settle(pending: deque[asyncio.Future[None]]) -> None:
    """After a failure: let queued writes finish (the part stays consistent for a resume)."""
    await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()
