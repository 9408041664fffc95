"""Capture what native code writes to file descriptor 2 (TFLite Micro reports there)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["captured_stderr"]

_LOCK = threading.Lock()


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect fd 2 into a buffer for the duration; the yielded list receives the text on exit.

    Process-wide: serialized by a lock, used only around model loading and arena reports.
    """
    out: list[str] = []
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            out.append(sink.read().decode("utf-8", "replace"))
