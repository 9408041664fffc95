"""Disk-backed telemetry outbox (SQLite in the agent's data directory).

Windows are written here first, with a sequence number that only grows (it survives
restarts), and deleted only when the orchestrator acknowledges them: delivery is at
least once and in order, and the orchestrator's (device, sequence) key makes it
exactly once in its store. The outbox is bounded: past ``max_windows`` the oldest are
dropped and counted, never an unbounded disk.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from edgefleet.core.errors import FailedPrecondition

__all__ = ["Encoder", "Outbox"]

#: Turns a window's sequence number into its stored bytes.
Encoder = Callable[[int], bytes]


class Outbox:
    def __init__(self, path: Path, *, max_windows: int = 50_000) -> None:
        self.path = path
        self.max_windows = max_windows
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
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

    def append(self, encode: Encoder) -> int:
        """Store one window; ``encode(seq)`` returns its bytes. Returns the sequence number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._meta("last_seq") + 1
                self._db.execute("INSERT INTO windows VALUES (?, ?)", (seq, encode(seq)))
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (seq,))
                count = int(self._db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])
                if count > self.max_windows:
                    excess = count - self.max_windows
                    self._db.execute(
                        "DELETE FROM windows WHERE seq IN (SELECT seq FROM windows ORDER BY seq LIMIT ?)",
                        (excess,),
                    )
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('dropped', ?)", (self._meta("dropped") + excess,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return seq

    def pending(self, after: int = 0, limit: int = 100) -> list[tuple[int, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload FROM windows WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [(int(s), bytes(p)) for s, p in rows]

    def ack(self, up_to: int) -> int:
        """Forget every window up to and including ``up_to``; returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM windows WHERE seq <= ?", (up_to,)).rowcount

    def backlog(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])

    @property
    def dropped(self) -> int:
        with self._lock:
            return self._meta("dropped")

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._meta("last_seq")

    def close(self) -> None:
        with self._lock:
            self._db.close()
