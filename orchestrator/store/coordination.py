"""Soft state shared by replicas: presence (who holds each device's stream) and leases (one holder each).

Both are upserts decided inside the database, so concurrent replicas agree without talking to each other:

* presence: the row goes to the newest ``last_seen`` (a replica flushing an older view never takes a
  device back from the one that holds it now); a row is void after ``expires``;
* leases: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE holder = me OR expires <= now``; the row comes back
  only when this holder has it (PostgreSQL re-checks the condition on the latest row under its lock; SQLite
  writers are serialised).

Times are the callers' clocks (epoch seconds): replicas on several machines need synchronised clocks (NTP),
and lease and presence lifetimes of seconds leave room for their drift.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.results import Lease, Presence
from edgefleet.orchestrator.store.tables import LEASES, PRESENCE

__all__ = [
    "acquire_lease",
    "drop_presence",
    "leases",
    "presence",
    "release_lease",
    "touch_presence",
]


def touch_presence(db: Database, entries: Sequence[Presence]) -> None:
    """Upsert presence rows in one transaction (a row another replica saw more recently stays theirs)."""
    if not entries:
        return
    rows = [
        {
            "device_id": p.device_id,
            "replica": p.replica,
            "last_seen": p.last_seen,
            "expires": p.expires,
            "conditions_json": json.dumps([list(c) for c in p.conditions]),
        }
        for p in entries
    ]
    c = PRESENCE.c

    def build() -> sa.Executable:
        stmt = db.insert(PRESENCE)
        return stmt.on_conflict_do_update(
            index_elements=["device_id"],
            set_={
                "replica": stmt.excluded.replica,
                "last_seen": stmt.excluded.last_seen,
                "expires": stmt.excluded.expires,
                "conditions_json": stmt.excluded.conditions_json,
            },
            # the newest view wins; the same replica always refreshes its own row
            where=sa.or_(c.replica == stmt.excluded.replica, c.last_seen <= stmt.excluded.last_seen),
        )

    stmt = db.statement("presence.touch", build)
    with db.write() as conn:
        conn.execute(stmt, rows)


def drop_presence(db: Database, replica: str, device_ids: Sequence[str] = ()) -> int:
    """Streams ended: delete ``replica``'s rows of ``device_ids`` (all of its rows when empty)."""
    c = PRESENCE.c
    query = sa.delete(PRESENCE).where(c.replica == replica)
    if device_ids:
        query = query.where(c.device_id.in_(list(device_ids)))
    with db.write() as conn:
        return int(conn.execute(query).rowcount)


def presence(db: Database, now: float, device_ids: Sequence[str] = (), replica: str = "") -> list[Presence]:
    """Rows not yet expired at ``now``: of ``device_ids`` (all when empty), of ``replica`` (any when "")."""
    c = PRESENCE.c
    query = sa.select(PRESENCE).where(c.expires > now).order_by(c.device_id)
    if device_ids:
        query = query.where(c.device_id.in_(list(device_ids)))
    if replica:
        query = query.where(c.replica == replica)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [
        Presence(
            r.device_id,
            r.replica,
            float(r.last_seen),
            float(r.expires),
            tuple((str(t), str(m), float(s)) for t, m, s in json.loads(r.conditions_json)),
        )
        for r in rows
    ]


def acquire_lease(db: Database, name: str, holder: str, now: float, ttl: float) -> bool:
    """Take the lease, or renew it when ``holder`` has it; True when ``holder`` has it until now + ttl."""
    c = LEASES.c

    def build() -> sa.Executable:
        stmt = db.insert(LEASES)
        return stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": stmt.excluded.holder,
                "expires": stmt.excluded.expires,
                "since": sa.case((c.holder == stmt.excluded.holder, c.since), else_=stmt.excluded.since),
            },
            where=sa.or_(c.holder == stmt.excluded.holder, c.expires <= stmt.excluded.since),
        ).returning(c.holder)

    stmt = db.statement("lease.acquire", build)
    with db.write() as conn:
        row = conn.execute(stmt, {"name": name, "holder": holder, "since": now, "expires": now + ttl}).first()
    return row is not None


def release_lease(db: Database, name: str, holder: str) -> bool:
    """Give the lease up (another replica may take it at once); False when ``holder`` did not have it."""
    c = LEASES.c
    with db.write() as conn:
        gone = conn.execute(sa.delete(LEASES).where(c.name == name, c.holder == holder))
    return bool(gone.rowcount)


def leases(db: Database, now: float, prefix: str = "") -> list[Lease]:
    """Leases held at ``now`` (not expired), whose name starts with ``prefix``."""
    c = LEASES.c
    query = sa.select(LEASES).where(c.expires > now).order_by(c.name)
    if prefix:
        query = query.where(c.name.startswith(prefix, autoescape=True))
    with db.read() as conn:
        rows = conn.execute(query).all()
    # LIKE ignores ASCII case on SQLite: the exact check is here
    held = [r for r in rows if r.name.startswith(prefix)]
    return [Lease(r.name, r.holder, float(r.since), float(r.expires)) for r in held]
