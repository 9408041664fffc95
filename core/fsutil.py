"""Crash-safe file writes (temporary file in the same directory, fsync, rename, fsync the directory), and
reading a file a user named, with what is wrong with the path in their words."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from edgefleet.core.errors import InvalidArgument

__all__ = ["atomic_write", "check_user_file", "read_user_file"]

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    with contextlib.suppress(OSError):
        os.fsync(dir_fd)
    os.close(dir_fd)


def check_user_file(path: Path, what: str) -> None:
    """Raise InvalidArgument naming ``path`` and what is wrong with it for a ``what`` file (``"model"``,
    ``"evaluation set"``): missing, a directory, not a regular file, empty, or unreadable."""
    a_what = f"{'an' if what[:1] in 'aeiou' else 'a'} {what}"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidArgument(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot reach the {what} file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{path}: a directory, not {a_what} file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise InvalidArgument(f"{path}: {kind}, not {a_what} file")
    if st.st_size == 0:
        raise InvalidArgument(f"{path}: the {what} file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise InvalidArgument(f"{path}: cannot read the {what} file (permission denied)")


def read_user_file(path: Path, what: str) -> bytes:
    """The bytes of a file a user named, or :func:`check_user_file`'s one line about it."""
    check_user_file(path, what)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{path}: cannot read the {what} file ({exc.strerror})") from exc
