"""Resumable artifact download: append to ``downloads/<sha>.part`` from where it stopped, then verify.

Nothing is installed until the size, the SHA-256 and the Ed25519 signature (by
a trusted key) all check out; a bad file is deleted, never activated.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import grpc

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied, ResourceExhausted
from edgefleet.core.rpc import error_from_rpc
from edgefleet.core.trust import verify_digest
from edgefleet.v1 import control_pb2, control_pb2_grpc

__all__ = ["ArtifactSpec", "Downloader"]

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArtifactSpec:
    sha256: str
    size: int
    signature: bytes
    key_id: str


def _sha256_prefix(path: Path, size: int) -> Any:
    """A running SHA-256 over the first ``size`` bytes of ``path`` (a resumed partial file)."""
    h = hashlib.sha256()
    if size:
        with path.open("rb") as fh:
            while block := fh.read(min(1 << 20, size - fh.tell())):
                h.update(block)
    return h


def _append(fh: BinaryIO, digest: Any, data: bytes) -> None:
    fh.write(data)
    digest.update(data)


def _sync(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


class Downloader:
    def __init__(
        self, root: Path, trusted_keys: Callable[[], Mapping[str, bytes]], *, chunk_bytes: int = CHUNK
    ) -> None:
        self.chunk_bytes = chunk_bytes
        self.root = root / "downloads"
        self.root.mkdir(parents=True, exist_ok=True)
        self._trusted = trusted_keys
        #: Bytes received over the wire (all downloads), for reports and tests.
        self.bytes_received = 0

    def part_path(self, spec: ArtifactSpec) -> Path:
        return self.root / f"{spec.sha256}.part"

    async def fetch(
        self,
        stub: control_pb2_grpc.FleetControlAsyncStub,
        spec: ArtifactSpec,
        *,
        metadata: tuple[tuple[str, str | bytes], ...],
        progress: Callable[[int, int], Any] | None = None,
    ) -> Path:
        """Download (resuming a previous partial file) and verify; returns the verified file.

        Bytes are hashed as they are written (on a worker thread, off the event loop),
        so verification never re-reads the file; a resumed download hashes its
        existing prefix first.
        """
        if spec.key_id not in self._trusted():
            raise PermissionDenied(f"artifact {spec.sha256[:12]} is signed by untrusted key {spec.key_id!r}")
        part = self.part_path(spec)
        offset = part.stat().st_size if part.exists() else 0
        if offset > spec.size:
            part.unlink()
            offset = 0
        digest = await asyncio.to_thread(_sha256_prefix, part, offset)
        free = shutil.disk_usage(self.root).free
        if spec.size - offset > free:
            raise ResourceExhausted(
                f"artifact {spec.sha256[:12]} needs {spec.size - offset} more bytes but {self.root} has "
                f"{free} free; nothing was installed"
            )
        if offset < spec.size:
            request = control_pb2.FetchArtifactRequest(
                sha256=spec.sha256, offset=offset, max_chunk_bytes=self.chunk_bytes
            )
            try:
                with part.open("ab") as fh:
                    async for chunk in stub.FetchArtifact(request, metadata=metadata):
                        if chunk.offset != offset:
                            raise InvalidArgument(
                                f"artifact chunk at offset {chunk.offset}, expected {offset}"
                            )
                        if offset + len(chunk.data) > spec.size:
                            raise InvalidArgument(
                                f"artifact {spec.sha256[:12]} runs past its announced {spec.size} bytes"
                            )
                        await asyncio.to_thread(_append, fh, digest, chunk.data)
                        offset += len(chunk.data)
                        self.bytes_received += len(chunk.data)
                        if progress is not None:
                            progress(offset, spec.size)
                    await asyncio.to_thread(_sync, fh)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from exc
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    part.unlink(missing_ok=True)  # give the space back; the download starts over later
                    raise ResourceExhausted(
                        f"no space left on the device while writing artifact {spec.sha256[:12]} to "
                        f"{self.root}; the partial file was removed and nothing was installed"
                    ) from exc
                raise FailedPrecondition(
                    f"cannot write artifact {spec.sha256[:12]} to {part}: {exc.strerror}"
                ) from exc
        return self._verify(part, spec, digest.hexdigest())

    def _verify(self, part: Path, spec: ArtifactSpec, digest: str) -> Path:
        size = part.stat().st_size
        problem = ""
        if size != spec.size:
            problem = f"size {size} B, expected {spec.size} B"
        elif digest != spec.sha256:
            problem = f"SHA-256 {digest[:12]}, expected {spec.sha256[:12]}"
        elif not verify_digest(self._trusted()[spec.key_id], spec.sha256, spec.signature):
            problem = f"signature does not verify with key {spec.key_id}"
        if problem:
            part.unlink(missing_ok=True)
            raise PermissionDenied(f"artifact {spec.sha256[:12]} refused: {problem}; nothing was installed")
        done = part.with_suffix(".bundle")
        part.replace(done)
        return done

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
