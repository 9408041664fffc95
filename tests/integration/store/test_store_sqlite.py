"""SQLite only: a read answers while a writer of this process waits for another process's write lock; an
opener waits for another process's migration longer than the busy timeout."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from edgefleet.orchestrator.fleet.model import DeviceRecord, EnrollmentToken
from edgefleet.orchestrator.store import SqliteStore, Store, open_store
from tests.helpers.processes import read_until
from tests.helpers.records import device


def test_a_read_answers_while_a_writer_waits_for_another_process(tmp_path: Path) -> None:
    """Before, one connection behind one lock: a primary-key read waited (up to the 10 s busy timeout)
    behind a write of the same process stuck in BEGIN IMMEDIATE on another process's lock."""
    path = tmp_path / "edgefleet.sqlite"
    store = SqliteStore(path, busy_timeout_s=60.0)
    store.put_device(device())
    code = (
        "import sqlite3, sys\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        read_until(holder, re.compile("locked"), timeout=20)  # type: ignore[arg-type]
        writer = threading.Thread(target=store.put_token, args=(EnrollmentToken("t" * 64, "", 9e9, 1),))
        writer.start()
        time.sleep(0.5)  # ordering, not an assertion: let the writer reach its busy wait first
        seen: list[DeviceRecord | None] = []
        reader = threading.Thread(target=lambda: seen.append(store.get_device("rpi4-1")))
        reader.start()
        reader.join(30)  # a hang guard
        assert not reader.is_alive()
        assert writer.is_alive()
        assert seen == [device()]
    finally:
        holder.communicate("\n", timeout=20)
    writer.join(60)
    assert store.token_exists("t" * 64)  # the waiting write went through once the lock was free
    assert path == store.path
    store.close()


def _hold_write_lock(path: Path) -> subprocess.Popen[str]:
    """Another process in the middle of a write on the file (in WAL, as every edgefleet opener sets it)."""
    code = (
        "import sqlite3, sys\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('PRAGMA journal_mode=WAL')\n"
        "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    read_until(holder, re.compile("locked"), timeout=20)  # type: ignore[arg-type]
    return holder


def test_an_opener_waits_for_a_migration_beyond_the_busy_timeout(tmp_path: Path) -> None:
    """Replicas starting together: one migrates (it may take a while on a big store), the others wait for
    it instead of failing after the ordinary busy timeout."""
    path = tmp_path / "edgefleet.sqlite"
    holder = _hold_write_lock(path)  # another process in the middle of its write (as if migrating)
    opened: list[Store | BaseException] = []

    def open_it() -> None:
        try:
            opened.append(open_store(f"sqlite:///{path}", busy_timeout_s=0.3))
        except BaseException as exc:
            opened.append(exc)

    opener = threading.Thread(target=open_it)
    opener.start()
    time.sleep(1.5)  # ordering, not an assertion: well past the 0.3 s busy timeout
    holder.communicate("\n", timeout=20)
    opener.join(120)
    [store] = opened
    assert isinstance(store, Store), store
    store.put_device(device())
    store.close()
