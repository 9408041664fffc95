"""The isolated probe helper: it dies with its parent, and only then (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from edgefleet.orchestrator.variants.isolation import IsolatedRunner
from tests.helpers.pids import alive, kill_all, wait_gone

#: A parent that starts a child running only the portable watchdog (no prctl), prints its pid, and waits.
_PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys; from edgefleet.orchestrator.variants.lifeline import watch_parent; watch_parent(int(sys.argv[1]))",
    str(os.getpid())])
print(child.pid, flush=True)
time.sleep(600)
"""


def test_the_watchdog_alone_ends_the_child_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive([child]) == [child]
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=20)
        assert wait_gone([child]) == [], "the child outlived its parent"
    finally:
        kill_all([child, parent.pid])


def test_the_helper_outlives_the_thread_that_first_asked_for_it() -> None:
    """Linux's parent-death signal follows the thread that started the child: a request's short-lived
    worker thread must not take the helper down when it ends."""
    runner = IsolatedRunner()
    first: list[int] = []
    try:
        worker = threading.Thread(target=lambda: first.append(runner.run(os.getpid, what="probe")))
        worker.start()
        worker.join()
        assert len(first) == 1
        assert first[0] != os.getpid()
        assert runner.run(os.getpid, what="probe") == first[0]  # the same helper, still alive
    finally:
        runner.close()
    assert wait_gone(first) == []


def test_a_helper_that_died_is_replaced() -> None:
    runner = IsolatedRunner()
    try:
        helper = runner.run(os.getpid, what="probe")
        os.kill(helper, signal.SIGKILL)
        assert wait_gone([helper]) == []
        with pytest.raises(Exception, match="the isolated helper process died"):
            runner.run(os.getpid, what="probe")
        assert runner.run(os.getpid, what="probe") != helper
    finally:
        runner.close()
