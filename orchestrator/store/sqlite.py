"""The embedded default: the SQL store on one SQLite file (kept under its old name for callers)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from edgefleet.orchestrator.store.sql import SqlStore

__all__ = ["SqliteStore"]


class SqliteStore(SqlStore):
    """``busy_timeout_s``: how long a write waits for another process's lock before UNAVAILABLE."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        url = URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
        super().__init__(url, busy_timeout_s=busy_timeout_s)
