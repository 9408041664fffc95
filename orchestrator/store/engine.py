"""Backend glue: one SQLAlchemy engine per store, read and write transactions, error translation.

SQLite (embedded, one file): WAL, a pool of connections so reads never queue behind a writer; a write
transaction is ``BEGIN IMMEDIATE`` (writers of one process queue on a lock, other processes on the busy
timeout). PostgreSQL (psycopg 3, pooled): ``lock_timeout`` plays the busy timeout's part.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.engine import URL, Connection, make_url

from edgefleet.core.errors import (
    Aborted,
    EdgefleetError,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)

__all__ = ["Database", "mask_url", "parse_store_url"]

T = TypeVar("T")

#: PostgreSQL SQLSTATEs: lock_not_available, query_canceled (a timeout) -> busy; serialization_failure,
#: deadlock_detected -> a concurrent change won.
_PG_BUSY = ("55P03", "57014")
_PG_CONFLICT = ("40001", "40P01")


def parse_store_url(url: str) -> URL:
    """``sqlite:///PATH`` or ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (psycopg 3 is the driver)."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise InvalidArgument(
            f"store: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {_masked_text(url)!r}"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if not parsed.database or parsed.database == ":memory:" or parsed.host:
            raise InvalidArgument(f"store: expected sqlite:///PATH (a file), got {mask_url(parsed)!r}")
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        if not parsed.database:
            raise InvalidArgument(f"store: the URL names no database: {mask_url(parsed)!r}")
        return parsed.set(drivername="postgresql+psycopg")
    raise InvalidArgument(
        f"store: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB, got {mask_url(parsed)!r}"
    )


def mask_url(url: URL | str) -> str:
    """The URL with its password replaced by ***: safe for logs and error messages."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return _masked_text(url)


def _masked_text(text: str) -> str:
    """Best effort for a string that is not even a URL: hide what sits between ``//user:`` and ``@``."""
    head, sep, tail = text.partition("://")
    if sep and "@" in tail:
        userinfo, _, rest = tail.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return f"{head}://{user}:***@{rest}" if ":" in userinfo else text
    return text


class Database:
    """One store's engine. ``where`` names it in messages (the file, or the URL without its password)."""

    def __init__(self, url: URL, *, busy_timeout_s: float) -> None:
        self.url = url
        self.dialect = url.get_backend_name()
        self.busy_timeout_s = busy_timeout_s
        self._password = url.password or ""
        self._statements: dict[str, Any] = {}
        self._write_lock: threading.Lock | None = None
        if self.dialect == "sqlite":
            path = Path(str(url.database))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.where = str(path)
            self._write_lock = threading.Lock()
            self.engine = sa.create_engine(
                url,
                connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
                pool_size=8,
                max_overflow=24,
                pool_timeout=max(busy_timeout_s, 1.0),
                hide_parameters=True,
            )
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.where = mask_url(url.set(drivername="postgresql"))
            ms = max(1, int(busy_timeout_s * 1000))
            self.engine = sa.create_engine(
                url,
                connect_args={
                    "connect_timeout": max(2, int(busy_timeout_s)),
                    "options": f"-c lock_timeout={ms} -c idle_in_transaction_session_timeout=600000",
                },
                pool_size=8,
                max_overflow=24,
                pool_timeout=max(busy_timeout_s, 1.0),
                pool_pre_ping=True,
                hide_parameters=True,
            )

    @property
    def postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Reads that wait for no writer (WAL / MVCC). On SQLite no BEGIN: each statement is its own
        snapshot (the reads here are single statements), which saves two round trips per read."""
        try:
            with self.engine.connect().execution_options(edgefleet_read=True) as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate(exc) from exc

    @contextmanager
    def write(self, *, wait_s: float | None = None) -> Iterator[Connection]:
        """A write transaction, committed at the end of the block (rolled back on any exception).
        ``wait_s``: how long to wait for other writers this time (default: the busy timeout)."""
        wait = self.busy_timeout_s if wait_s is None else wait_s
        lock = self._write_lock
        if lock is not None and not lock.acquire(timeout=wait):
            raise Unavailable(
                f"{self.where}: the store is busy with other writes of this process; nothing was "
                "written, retry"
            )
        try:
            with self.engine.connect().execution_options(edgefleet_write=True) as conn:
                if wait_s is not None and lock is not None:
                    _sqlite_busy_timeout(conn, wait)  # before BEGIN IMMEDIATE, which is what waits
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if wait_s is not None and lock is not None:
                        _sqlite_busy_timeout(conn, self.busy_timeout_s)
        except sa_exc.SQLAlchemyError as exc:
            raise self.translate(exc) from exc
        finally:
            if lock is not None:
                lock.release()

    def insert(self, table: sa.Table) -> SqliteInsert | PgInsert:
        """The dialect's INSERT (both have ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
        return postgresql.insert(table) if self.postgresql else sqlite.insert(table)

    def statement(self, name: str, build: Callable[[], T]) -> T:
        """A statement built once per store (parameters bound at execution): hot paths skip rebuilding it."""
        if name not in self._statements:
            self._statements[name] = build()
        return self._statements[name]  # type: ignore[no-any-return]

    def translate(self, exc: sa_exc.SQLAlchemyError) -> EdgefleetError:
        """Locked or busy: UNAVAILABLE (retry). Lost a race: ABORTED. Else FAILED_PRECONDITION."""
        orig: Any = getattr(exc, "orig", None)
        text = self._clean(str(orig) if orig is not None else str(exc))
        where = self.where
        if isinstance(exc, sa_exc.TimeoutError):
            return Unavailable(f"{where}: no free store connection ({text}); nothing was written, retry")
        sqlstate = str(getattr(orig, "sqlstate", "") or "")
        if sqlstate in _PG_CONFLICT:
            return Aborted(f"{where}: a concurrent change won ({text}); nothing was written, retry")
        if sqlstate in _PG_BUSY:
            return Unavailable(f"{where}: the store is busy ({text}); nothing was written, retry")
        if isinstance(exc, sa_exc.OperationalError):
            if self.dialect == "sqlite" and ("locked" in text or "busy" in text):
                return Unavailable(
                    f"{where}: the store is locked by another process ({text}); nothing was written, retry"
                )
            if self.postgresql:
                return Unavailable(f"{where}: the store is unreachable ({text}); nothing was written, retry")
        if isinstance(exc, sa_exc.IntegrityError):
            return FailedPrecondition(f"{where}: the store refused the change ({text})")
        return FailedPrecondition(f"{where}: store error ({text}); the store was left untouched")

    def _clean(self, text: str) -> str:
        text = " ".join(text.split())
        return text.replace(self._password, "***") if self._password else text

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # BEGIN is ours (below), not the sqlite3 module's; WAL lets readers run beside a writer.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_busy_timeout(conn: Connection, seconds: float) -> None:
    # on the driver's connection: a statement through SQLAlchemy would BEGIN first
    conn.connection.driver_connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")  # type: ignore[union-attr]


def _sqlite_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("edgefleet_read"):
        return  # autocommit: the driver's isolation_level is None, so a lone SELECT needs no BEGIN
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("edgefleet_write") else "BEGIN")
