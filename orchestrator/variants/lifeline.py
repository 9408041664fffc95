"""A child process that dies with its parent, however the parent dies.

SIGKILL (the OOM killer, ``kill -9``, a container runtime) runs none of the parent's shutdown code, so
the child has to notice by itself. On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
asks for SIGKILL when the parent goes. Elsewhere, or if prctl fails, a watchdog thread sees the parent
pid change (the child is re-parented) and exits. Both are armed from the child's first instructions;
``getppid()`` right after arming catches a parent that died before the request was in place.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

__all__ = ["WATCHDOG_PERIOD_S", "die_with_parent", "request_parent_death_signal", "watch_parent"]

log = logging.getLogger(__name__)

#: How often the watchdog looks at the parent pid (the fallback's worst-case delay).
WATCHDOG_PERIOD_S = 0.5
_PR_SET_PDEATHSIG = 1


def request_parent_death_signal() -> bool:
    """Linux: SIGKILL this process when its parent (the thread that started it) exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int) -> None:
    """The portable fallback (runs forever): exit as soon as the parent pid is no longer ``parent_pid``."""
    while True:
        time.sleep(WATCHDOG_PERIOD_S)
        if os.getppid() != parent_pid:
            os._exit(0)  # the parent is gone: no cleanup owed to anyone


def die_with_parent(parent_pid: int) -> None:
    """Call first thing in the child (e.g. as a process pool's initializer) with the parent's pid."""
    armed = request_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(0)
    threading.Thread(target=watch_parent, args=(parent_pid,), name="edgefleet-lifeline", daemon=True).start()
    if not armed:
        log.debug("no parent-death signal on %s; the watchdog thread alone ends this child", sys.platform)
