"""Processes by pid, for tests that check what outlives what."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil

__all__ = ["alive", "kill_all", "wait_gone"]


def alive(pids: list[int]) -> list[int]:
    """The pids of ``pids`` still running (a zombie counts as gone: it holds no memory and runs nothing)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Poll until every pid is gone or ``timeout`` passes; the ones still running."""
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def kill_all(pids: list[int]) -> None:
    """SIGKILL those still running (cleanup after a failed assertion: leave nothing behind)."""
    for pid in alive(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
