"""Devices and rollouts: versioned records, written by compare-and-swap or atomic read-modify-write.

Every write increments the row's ``version``; the record read carries it. ``put`` writes only if the stored
version is still the one the record was read at (a new record: version 0, no row yet), else ABORTED:
another writer (a replica, another thread) changed it, nothing was written. ``update`` runs a pure
function on the current record inside one transaction (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite): it never conflicts and never loses a concurrent write.

One allowance keeps today's services working: a thread may put again a record it derived from its *own*
last write of that row (``put(r); step(r)`` puts r's successor at r's version) as long as nobody else has
written the row since. Any other writer's change in between still makes the put ABORTED.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgefleet.core.errors import Aborted, EdgefleetError, InvalidArgument, NotFound
from edgefleet.orchestrator.fleet.codec import device_from_json, device_to_json
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.rollout.model import RolloutRecord
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.tables import DEVICES, ROLLOUTS

__all__ = [
    "DEVICE",
    "ROLLOUT",
    "Kind",
    "Lineage",
    "get",
    "get_many",
    "list_records",
    "put",
    "update",
    "update_many",
]

#: Ids per ``IN (...)`` list: well inside every backend's limit on bound parameters.
_IN_CHUNK = 500

R = TypeVar("R", DeviceRecord, RolloutRecord)


@dataclass(frozen=True)
class Kind(Generic[R]):
    """How one kind of versioned record maps onto its table."""

    name: str
    table: sa.Table
    key: str
    ident: Callable[[R], str]
    columns: Callable[[R], dict[str, Any]]
    decode: Callable[[str], R]


def _device_columns(d: DeviceRecord) -> dict[str, Any]:
    return {"profile": d.profile, "record_json": device_to_json(d)}


def _rollout_columns(r: RolloutRecord) -> dict[str, Any]:
    return {"model": r.model, "state": r.state, "record_json": r.to_json()}


DEVICE: Kind[DeviceRecord] = Kind(
    "device", DEVICES, "device_id", lambda d: d.device_id, _device_columns, device_from_json
)
ROLLOUT: Kind[RolloutRecord] = Kind(
    "rollout", ROLLOUTS, "rollout_id", lambda r: r.rollout_id, _rollout_columns, RolloutRecord.from_json
)


class Lineage:
    """Per thread, for each row it wrote: (the version its chain of writes started from, the last one)."""

    _SIZE = 4096

    def __init__(self) -> None:
        self._local = threading.local()

    def _chains(self) -> OrderedDict[tuple[str, str], tuple[int, int]]:
        chains: OrderedDict[tuple[str, str], tuple[int, int]] | None = getattr(self._local, "chains", None)
        if chains is None:
            chains = self._local.chains = OrderedDict()
        return chains

    def base(self, key: tuple[str, str], version: int, stored: int) -> int | None:
        """Where the chain starts if a put at ``version`` may land on ``stored``; None: a conflict."""
        if version == stored:
            return version
        chain = self._chains().get(key)
        if chain is not None and chain[1] == stored and chain[0] <= version <= stored:
            return chain[0]
        return None

    def wrote(self, key: tuple[str, str], base: int, version: int) -> None:
        chains = self._chains()
        chains[key] = (base, version)
        chains.move_to_end(key)
        while len(chains) > self._SIZE:
            chains.popitem(last=False)


def _record(kind: Kind[R], row: Any) -> R:
    return replace(kind.decode(row.record_json), version=int(row.version))


def get(db: Database, kind: Kind[R], ident: str) -> R | None:
    t = kind.table
    query = db.statement(
        f"{kind.name}.get",
        lambda: sa.select(t.c.record_json, t.c.version).where(t.c[kind.key] == sa.bindparam("ident")),
    )
    with db.read() as conn:
        row = conn.execute(query, {"ident": ident}).first()
    return _record(kind, row) if row is not None else None


def _chunks(idents: Sequence[str]) -> list[list[str]]:
    unique = sorted(set(idents))  # sorted: rows are locked in one order by every writer (no deadlock)
    return [unique[i : i + _IN_CHUNK] for i in range(0, len(unique), _IN_CHUNK)]


def _many_query(db: Database, kind: Kind[R], locked: bool) -> Any:
    t = kind.table
    key = t.c[kind.key]

    def build() -> Any:
        query = (
            sa.select(key, t.c.record_json, t.c.version)
            .where(key.in_(sa.bindparam("idents", expanding=True)))
            .order_by(key)
        )
        return query.with_for_update() if locked else query

    return db.statement(f"{kind.name}.{'locked_many' if locked else 'get_many'}", build)


def get_many(db: Database, kind: Kind[R], idents: Sequence[str]) -> dict[str, R]:
    """The stored records of ``idents`` (absent ones left out), a few hundred per query."""
    query = _many_query(db, kind, locked=False)
    with db.read() as conn:
        return {
            row[0]: _record(kind, row)
            for chunk in _chunks(idents)
            for row in conn.execute(query, {"idents": chunk})
        }


def list_records(db: Database, kind: Kind[R], query: sa.Select[Any]) -> list[R]:
    with db.read() as conn:
        return [_record(kind, row) for row in conn.execute(query)]


def _locked_version(conn: Connection, db: Database, kind: Kind[R], ident: str) -> int:
    t = kind.table
    query = db.statement(
        f"{kind.name}.version",
        lambda: sa.select(t.c.version).where(t.c[kind.key] == sa.bindparam("ident")).with_for_update(),
    )
    return int(conn.execute(query, {"ident": ident}).scalar() or 0)


def _swap_statement(db: Database, kind: Kind[R], create: bool) -> Any:
    """INSERT of a new row (if none) or UPDATE of the row at version ``:expected``; RETURNING the key."""
    t = kind.table
    key = t.c[kind.key]
    if create:
        return db.insert(t).on_conflict_do_nothing(index_elements=[key]).returning(key)
    columns = [c.name for c in t.columns if c.name != kind.key]
    return (
        sa.update(t)
        .where(key == sa.bindparam("ident"), t.c.version == sa.bindparam("expected"))
        .values({name: sa.bindparam(f"new_{name}") for name in columns})
        .returning(key)
    )


def _swap(conn: Connection, db: Database, kind: Kind[R], record: R, expected: int) -> bool:
    """Write ``record`` as version ``expected + 1`` if the row is at ``expected`` (0: no row yet)."""
    ident = kind.ident(record)
    values = {**kind.columns(replace(record, version=expected + 1)), "version": expected + 1}
    create = expected == 0
    stmt = db.statement(
        f"{kind.name}.{'create' if create else 'swap'}", lambda: _swap_statement(db, kind, create)
    )
    if create:
        params = {kind.key: ident, **values}
    else:
        params = {"ident": ident, "expected": expected, **{f"new_{k}": v for k, v in values.items()}}
    return conn.execute(stmt, params).first() is not None


def put(db: Database, lineage: Lineage, kind: Kind[R], record: R) -> R:
    """Compare-and-swap; returns the record as stored (with its new version)."""
    ident = kind.ident(record)
    key = (kind.name, ident)
    with db.write() as conn:
        base = stored = record.version
        if not _swap(conn, db, kind, record, stored):  # the usual case costs one statement
            stored = _locked_version(conn, db, kind, ident)
            chained = lineage.base(key, record.version, stored)
            if chained is None or stored == record.version:
                state = f"stored version {stored}" if stored else "not stored"
                raise Aborted(
                    f"{kind.name} {ident} was changed by another writer ({state}; this change was based on "
                    f"version {record.version}); nothing was written: read it again and retry"
                )
            base = chained
            if not _swap(conn, db, kind, record, stored):
                raise Aborted(f"{kind.name} {ident} was written by another writer just now; retry")
    lineage.wrote(key, base, stored + 1)
    return replace(record, version=stored + 1)


def update(db: Database, kind: Kind[R], ident: str, fn: Callable[[R], R]) -> R:
    """Atomic read-modify-write of the current record; NOT_FOUND when there is none (``update_many`` of
    one: its error is raised)."""
    [stored] = update_many(db, kind, [(ident, fn)])
    if isinstance(stored, EdgefleetError):
        raise stored
    return stored


def update_many(
    db: Database, kind: Kind[R], updates: Sequence[tuple[str, Callable[[R], R]]]
) -> list[R | EdgefleetError]:
    """``update`` of several records in one transaction (their rows read and locked with a few ``IN``
    queries), applied in order: two updates of one record apply in turn. Per update, the record as stored
    or the domain error it met (NOT_FOUND, or what its function raised): one update's error never stops
    the others."""
    query = _many_query(db, kind, locked=True)
    out: list[R | EdgefleetError] = []
    with db.write() as conn:
        current: dict[str, R] = {}
        for chunk in _chunks([ident for ident, _ in updates]):
            current.update((row[0], _record(kind, row)) for row in conn.execute(query, {"idents": chunk}))
        for ident, fn in updates:
            record = current.get(ident)
            if record is None:
                out.append(NotFound(f"no {kind.name} {ident[:80]!r}"))
                continue
            try:
                changed = fn(record)
                if kind.ident(changed) != ident:
                    raise InvalidArgument(f"an update of {kind.name} {ident} may not change its id")
            except EdgefleetError as exc:
                out.append(exc)
                continue
            if not _swap(conn, db, kind, changed, record.version):  # rows locked: a bug if it happens
                raise Aborted(f"{kind.name} {ident} was written by another writer just now; retry")
            current[ident] = replace(changed, version=record.version + 1)
            out.append(current[ident])
    return out
