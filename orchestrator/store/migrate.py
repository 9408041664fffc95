"""Schema migrations at open: Alembic to head, in one transaction, one opener at a time.

SQLite: the transaction is ``BEGIN IMMEDIATE`` (other openers wait on the busy timeout). PostgreSQL: a
transaction-scoped advisory lock, so replicas starting together migrate once. A file made before Alembic
(``PRAGMA user_version`` 1-4, no ``alembic_version``) is brought to version 4, stamped at r0001 and
upgraded. A store at a revision this code does not know is refused, untouched.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from edgefleet.core.errors import EdgefleetError, FailedPrecondition
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.legacy import LEGACY_MIGRATIONS, LEGACY_VERSION

__all__ = ["ALEMBIC_USER_VERSION", "BASE_REVISION", "MIGRATIONS", "migrate", "schema_head"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: The first Alembic revision: exactly the hand-written schema's ``user_version`` 4.
BASE_REVISION = "r0001"
#: ``PRAGMA user_version`` of an Alembic-managed SQLite file: an older edgefleet (which knows 1-4) refuses
#: it as "newer than this edgefleet supports" instead of writing into a schema it does not know.
ALEMBIC_USER_VERSION = LEGACY_VERSION + 1
#: How long an opener waits for another one's migration (a big store's first upgrade takes a while).
MIGRATION_WAIT_S = 300.0
#: Any 64-bit key, the same for every replica: ``pg_advisory_xact_lock`` serialises their migrations.
_ADVISORY_KEY = 0x6564_6765_666C_6565  # "edgeflee"


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def schema_head() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def migrate(db: Database) -> None:
    """Check (and on SQLite, quick-check) the store, then bring it to head if it is behind."""
    try:
        if db.dialect == "sqlite":
            with db.read() as conn:
                problem = conn.exec_driver_sql("PRAGMA quick_check(1)").scalar()
                if problem != "ok":
                    raise FailedPrecondition(_corrupt(db, f"integrity check: {problem}"))
        with db.read() as conn:
            if _state(db, conn) == "current":
                return
        with db.write(wait_s=MIGRATION_WAIT_S) as conn:
            if db.postgresql:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(MIGRATION_WAIT_S)}s'")
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_KEY)))
            state = _state(db, conn)
            if state == "legacy":
                _legacy_to_base(conn)
            if state != "current":
                command.upgrade(_config(conn), "head")
            if db.dialect == "sqlite":
                conn.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_USER_VERSION}")
    except EdgefleetError as exc:
        if db.dialect == "sqlite" and isinstance(exc.__cause__, sa_exc.DatabaseError):
            text = str(exc.__cause__.orig)
            if "locked" not in text and "busy" not in text:
                raise FailedPrecondition(_corrupt(db, text)) from exc
        raise


def _corrupt(db: Database, text: str) -> str:
    return (
        f"{db.where}: the store is unreadable or corrupt ({text}); it was left untouched: restore it from "
        "a backup or move it aside"
    )


def _state(db: Database, conn: Connection) -> str:
    """``current`` (at head), ``behind`` (Alembic-managed or empty), ``legacy`` (user_version 1-4)."""
    script = ScriptDirectory.from_config(_config())
    head = script.get_current_head()
    current = _current_revision(conn)
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise FailedPrecondition(
                f"{db.where}: store schema revision {current!r} is newer than this edgefleet supports "
                f"({head}); upgrade edgefleet"
            ) from None
        if current != head:
            return "behind"
        if db.dialect == "sqlite" and _user_version(conn) != ALEMBIC_USER_VERSION:
            return "behind"
        return "current"
    if db.dialect != "sqlite":
        return "behind"
    version = _user_version(conn)
    if version > LEGACY_VERSION:
        raise FailedPrecondition(
            f"{db.where}: store schema version {version} is newer than this edgefleet supports "
            f"({LEGACY_VERSION} without an alembic_version table)"
        )
    return "legacy" if version else "behind"


def _current_revision(conn: Connection) -> str | None:
    """What ``alembic_version`` says (read directly: Alembic's context would log on every open)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _user_version(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)


def _legacy_to_base(conn: Connection) -> None:
    version = _user_version(conn)
    for number, script in enumerate(LEGACY_MIGRATIONS[version:], start=version + 1):
        for statement in filter(str.strip, script.split(";")):
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"PRAGMA user_version = {number}")
    command.stamp(_config(conn), BASE_REVISION)
