"""The agent's one disk thread: every disk write (outbox, slot state, bundle copies, downloads, identity,
TLS and power files) and the periodic sysfs sampling run here, never on the event loop that serves Predict.

One thread, so writes keep their order (a slot state is never written before the bundle it names) and a
slow or stalled disk holds up only other disk work. The outbox's SQLite connection is opened on this thread
and bound to it (``check_same_thread``): using it from any other thread raises.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["DISK_THREAD", "DiskExecutor"]

P = ParamSpec("P")
T = TypeVar("T")

#: Name (prefix) of the disk thread.
DISK_THREAD = "edgefleet-disk"


class DiskExecutor:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=DISK_THREAD)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the disk thread and wait for it without blocking the event loop."""
        job = functools.partial(self.call, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, job)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs on the disk thread, once per job. A subclass may wrap it (the slow-filesystem test does)."""
        return fn(*args, **kwargs)

    @staticmethod
    def on_disk_thread() -> bool:
        return threading.current_thread().name.startswith(DISK_THREAD)

    def close(self) -> None:
        """Finish what was queued (a write is never cut off), then stop the thread."""
        self._pool.shutdown(wait=True)
