"""Content-addressed blob store: ``objects/ab/cdef...`` named by the SHA-256 of the bytes.

Writes go to a temporary file in the same directory, are fsynced, then renamed
into place, so a reader never sees a partial object; putting the same bytes
twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from edgefleet.core.errors import InvalidArgument, NotFound

__all__ = ["ArtifactStore", "sha256_hex"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "objects"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if not _HEX64.match(digest):
            raise InvalidArgument(f"not a SHA-256 hex digest: {digest[:80]!r}")
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self._existing(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        return self._existing(digest).read_bytes()

    def _existing(self, digest: str) -> Path:
        path = self.path(digest)
        if not path.is_file():
            raise NotFound(f"no artifact {digest}")
        return path
