"""Disk-backed telemetry outbox (SQLite in the agent's data directory).

Windows are written here first, with a sequence number that only grows (it survives
restarts), and deleted only when the orchestrator acknowledges them: delivery is at
least once and in order, and the orchestrator's (device, sequence) key makes it
exactly once in its store. The outbox is bounded: past ``max_windows`` the oldest are
dropped and counted, never an unbounded disk.

The connection belongs to the thread that opened it (the agent's disk thread): SQLite
refuses a call from any other thread. A write the disk refuses for lack of space (or
quota, or a failing device) raises ``ResourceExhausted`` with nothing half-written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from edgefleet.core.errors import FailedPrecondition, ResourceExhausted

__all__ = ["Encoder", "Outbox"]

#: Turns a window's sequence number into its stored bytes.
Encoder = Callable[[int], bytes]
#: SQLite primary result codes that mean "the disk did not take the write" (ENOSPC is SQLITE_FULL;
#: EDQUOT and device errors are SQLITE_IOERR_WRITE / _FSYNC).
_REFUSED = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR}


class Outbox:
    def __init__(self, path: Path, *, max_windows: int = 50_000) -> None:
        self.path = path
        self.max_windows = max_windows
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS windows (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise FailedPrecondition(f"{path}: telemetry outbox unusable ({exc})") from exc

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _write(self, statements: Callable[[], None]) -> None:
        """One transaction; a refused write rolls back and raises ResourceExhausted."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            statements()
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            if exc.sqlite_errorcode & 0xFF in _REFUSED:
                raise ResourceExhausted(f"{self.path}: the disk refused the write ({exc})") from exc
            raise
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    def put(self, items: Sequence[tuple[int, bytes]], *, dropped: int = 0) -> None:
        """Store windows with the sequences they were given (ascending, above ``last_seq``), and add
        ``dropped`` windows lost elsewhere (in memory) to the drop count; all or nothing."""

        def statements() -> None:
            self._db.executemany("INSERT INTO windows VALUES (?, ?)", items)
            if items:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)",
                    (max(self._meta("last_seq"), items[-1][0]),),
                )
            count = int(self._db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
            excess = max(0, count - self.max_windows)
            if excess:
                self._db.execute(
                    "DELETE FROM windows WHERE seq IN (SELECT seq FROM windows ORDER BY seq LIMIT ?)",
                    (excess,),
                )
            if excess or dropped:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                    (self._meta("dropped") + excess + dropped,),
                )

        self._write(statements)

    def append(self, encode: Encoder) -> int:
        """Store one window; ``encode(seq)`` returns its bytes. Returns the sequence number."""
        seq = self.last_seq + 1
        self.put([(seq, encode(seq))])
        return seq

    def pending(self, after: int = 0, limit: int = 100) -> list[tuple[int, bytes]]:
        rows = self._db.execute(
            "SELECT seq, payload FROM windows WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [(int(s), bytes(p)) for s, p in rows]

    def ack(self, up_to: int) -> int:
        """Forget every window up to and including ``up_to``; returns how many. An acknowledgement past
        ``last_seq`` (windows that were only in memory when the agent stopped) raises ``last_seq`` to it,
        so a sequence the orchestrator holds is never given to another window."""
        deleted = 0

        def statements() -> None:
            nonlocal deleted
            deleted = self._db.execute("DELETE FROM windows WHERE seq <= ?", (up_to,)).rowcount
            if up_to > self._meta("last_seq"):
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (up_to,))

        self._write(statements)
        return deleted

    def backlog(self, after: int = 0) -> int:
        """Windows stored (with a sequence above ``after``)."""
        return int(self._db.execute("SELECT COUNT(*) FROM windows WHERE seq > ?", (after,)).fetchone()[0])

    @property
    def dropped(self) -> int:
        return self._meta("dropped")

    @property
    def last_seq(self) -> int:
        return self._meta("last_seq")

    def close(self) -> None:
        self._db.close()
