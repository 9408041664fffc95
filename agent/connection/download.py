"""Resumable artifact download: append to ``downloads/<sha>.part`` from where it stopped, then verify.

The bytes come from the artifact's URL when the desired state names one (any HTTP origin, with range
requests: ``http_fetch``), else, or when that origin fails, from FetchArtifact on the orchestrator's stream
port, from wherever the file stopped. Nothing is installed until the size, the SHA-256 and the Ed25519
signature (by a trusted key) all check out; a bad file is deleted, never activated (bytes from a URL that
fail the check are fetched once more over FetchArtifact). Every file operation (open, append, fsync,
verify, rename, delete) runs on the disk thread.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import grpc

from edgefleet.agent.connection.http_fetch import HttpAccess, OriginFailed, http_transfer
from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.connection.wire import chunk_from_pb, fetch_request
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from edgefleet.core.rpc import error_from_rpc
from edgefleet.core.trust import verify_digest
from edgefleet.v1 import control_pb2_grpc

__all__ = ["CHUNK", "Credentials", "Downloader", "HttpAccess"]

log = logging.getLogger("edgefleet.agent")

CHUNK = 1024 * 1024


class _Part:
    """A partial download on disk and the running SHA-256 of its bytes (disk thread only)."""

    def __init__(self, path: Path, size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        offset = path.stat().st_size if path.exists() else 0
        if offset > size:
            path.unlink()
            offset = 0
        self.path, self.offset = path, offset
        self.digest: Any = hashlib.sha256()
        if offset:
            with path.open("rb") as fh:
                while block := fh.read(min(1 << 20, offset - fh.tell())):
                    self.digest.update(block)
        self._fh: BinaryIO | None = None

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path.parent).free

    def append(self, data: bytes) -> None:
        if self._fh is None:
            self._fh = self.path.open("ab")
        self._fh.write(data)
        self.digest.update(data)
        self.offset += len(data)

    def reset(self) -> None:
        """Start the file afresh (an origin that ignored the range sends it all again)."""
        self.close_quietly()
        self.path.write_bytes(b"")
        self.offset = 0
        self.digest = hashlib.sha256()

    def sync_and_close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def close_quietly(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Credentials(Protocol):
    """What the downloader needs of the device's identity."""

    def trusted(self) -> Mapping[str, bytes]:
        """The signing keys artifacts may be signed with (key id -> raw Ed25519 public key)."""

    async def http_access(self, url: str) -> HttpAccess | None:
        """How to reach ``url`` (TLS, who the device is); None: FetchArtifact only."""


class Downloader:
    def __init__(
        self, root: Path, credentials: Credentials, disk: DiskExecutor, *, chunk_bytes: int = CHUNK
    ) -> None:
        self._credentials = credentials
        self.chunk_bytes = chunk_bytes
        self.root = root / "downloads"
        self._trusted = credentials.trusted
        self._disk = disk
        #: Bytes received over the wire (all downloads), for reports and tests; of which over HTTP(S).
        self.bytes_received = 0
        self.http_bytes = 0
        #: Downloads whose URL failed and that fell back to FetchArtifact.
        self.fallbacks = 0

    def part_path(self, spec: ArtifactSpec) -> Path:
        return self.root / f"{spec.sha256}.part"

    async def fetch(
        self,
        channel: grpc.aio.Channel,
        spec: ArtifactSpec,
        *,
        metadata: tuple[tuple[str, str | bytes], ...],
        progress: Callable[[int, int], Any] | None = None,
    ) -> Path:
        """Download (resuming a previous partial file) and verify; returns the verified file. From the
        artifact's URL first when it has one (and the downloader knows how to reach origins).

        Bytes are hashed as they are written, so verification never re-reads the file; a
        resumed download hashes its existing prefix first.
        """
        if spec.key_id not in self._trusted():
            raise PermissionDenied(f"artifact {spec.sha256[:12]} is signed by untrusted key {spec.key_id!r}")
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        part = await self._disk.run(_Part, self.part_path(spec), spec.size)
        try:
            free = await self._disk.run(part.free_bytes)
            if spec.size - part.offset > free:
                raise ResourceExhausted(
                    f"artifact {spec.sha256[:12]} needs {spec.size - part.offset} more bytes but {self.root} "
                    f"has {free} free; nothing was installed"
                )
            http = await self._credentials.http_access(spec.url) if spec.url else None
            via_url = http is not None and part.offset < spec.size
            if http is not None and via_url:
                via_url = await self._from_url(spec, part, http, progress)
            if part.offset < spec.size:
                await self._transfer(stub, spec, part, metadata, progress)
        except OSError as exc:
            await self._disk.run(part.close_quietly)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                await self._disk.run(part.path.unlink, True)  # give the space back; start over later
                raise ResourceExhausted(
                    f"no space left on the device while writing artifact {spec.sha256[:12]} to "
                    f"{self.root}; the partial file was removed and nothing was installed"
                ) from exc
            raise FailedPrecondition(
                f"cannot write artifact {spec.sha256[:12]} to {part.path}: {exc.strerror}"
            ) from exc
        except BaseException:
            await self._disk.run(part.close_quietly)
            raise
        try:
            return await self._disk.run(self._verify, part, spec)
        except PermissionDenied as exc:
            if not via_url:
                raise
            log.warning("%s; fetching it again over FetchArtifact", exc.message)
            self.fallbacks += 1
            plain = dataclasses.replace(spec, url="")
            return await self.fetch(channel, plain, metadata=metadata, progress=progress)

    async def _from_url(
        self, spec: ArtifactSpec, part: _Part, http: HttpAccess, progress: Callable[[int, int], Any] | None
    ) -> bool:
        """True when the whole artifact came from its URL; False when the origin failed (the part keeps
        what arrived: FetchArtifact resumes from there)."""

        def count(n: int) -> None:
            self.bytes_received += n
            self.http_bytes += n
            if progress is not None:
                progress(part.offset, spec.size)

        try:
            await http_transfer(
                spec.url, spec, part, self._disk, http, chunk_bytes=self.chunk_bytes, on_bytes=count
            )
        except OriginFailed as exc:
            self.fallbacks += 1
            log.warning(
                "artifact %s: %s; falling back to FetchArtifact from byte %d",
                spec.sha256[:12],
                exc,
                part.offset,
            )
            await self._disk.run(part.close_quietly)
            return False
        return True

    async def _transfer(
        self,
        stub: Any,
        spec: ArtifactSpec,
        part: _Part,
        metadata: tuple[tuple[str, str | bytes], ...],
        progress: Callable[[int, int], Any] | None,
    ) -> None:
        request = fetch_request(spec, part.offset, self.chunk_bytes)
        try:
            async for message in stub.FetchArtifact(request, metadata=metadata):
                offset, data = chunk_from_pb(message)
                if offset != part.offset:
                    raise InvalidArgument(f"artifact chunk at offset {offset}, expected {part.offset}")
                if part.offset + len(data) > spec.size:
                    raise InvalidArgument(
                        f"artifact {spec.sha256[:12]} runs past its announced {spec.size} bytes"
                    )
                await self._disk.run(part.append, data)
                self.bytes_received += len(data)
                if progress is not None:
                    progress(part.offset, spec.size)
            await self._disk.run(part.sync_and_close)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from exc

    def _verify(self, part: _Part, spec: ArtifactSpec) -> Path:
        size = part.path.stat().st_size
        digest = part.digest.hexdigest()
        problem = ""
        if size != spec.size:
            problem = f"size {size} B, expected {spec.size} B"
        elif digest != spec.sha256:
            problem = f"SHA-256 {digest[:12]}, expected {spec.sha256[:12]}"
        elif not verify_digest(self._trusted()[spec.key_id], spec.sha256, spec.signature):
            problem = f"signature does not verify with key {spec.key_id}"
        if problem:
            part.path.unlink(missing_ok=True)
            raise PermissionDenied(f"artifact {spec.sha256[:12]} refused: {problem}; nothing was installed")
        done = part.path.with_suffix(".bundle")
        part.path.replace(done)
        return done

    def discard(self, path: Path) -> None:
        """Delete a verified download once it is installed (disk thread)."""
        path.unlink(missing_ok=True)
