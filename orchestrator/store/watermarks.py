"""Acknowledgement watermarks: per device, the highest sequence up to which every window is stored (or was
declared dropped by the agent). A watermark only moves forward: over the agent's "dropped through" floor,
then over every consecutive stored sequence; never to MAX(seq).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.tables import ACKS, WINDOWS

__all__ = ["INT64_MAX", "acked", "advance_ack", "advance_many"]

INT64_MAX = 2**63 - 1
#: How many sequences one step of the watermark walk reads.
_WALK = 1024


def advance_ack(db: Database, device_id: str, floor: int = 0) -> int:
    """Move the watermark to max(watermark, floor), then over every consecutive stored sequence."""
    with db.write() as conn:
        [(_, mark)] = advance_many(conn, db, {device_id: floor})
        return mark


def _clamp(floor: int) -> int:
    return min(max(int(floor), 0), INT64_MAX)


def _walk(conn: Connection, device_id: str, mark: int) -> int:
    """From ``mark``, over every consecutive stored sequence of the device."""
    c = WINDOWS.c
    while True:
        seqs = (
            conn.execute(
                sa.select(c.seq).where(c.device_id == device_id, c.seq > mark).order_by(c.seq).limit(_WALK)
            )
            .scalars()
            .all()
        )
        for s in seqs:
            if s != mark + 1:
                return mark
            mark = int(s)
        if len(seqs) < _WALK:
            return mark


def _ack_upsert(db: Database) -> Any:
    """INSERT of a watermark that never moves one back."""
    stmt = db.insert(ACKS)
    return stmt.on_conflict_do_update(
        index_elements=["device_id"],
        set_={
            "acked": sa.case((stmt.excluded.acked > ACKS.c.acked, stmt.excluded.acked), else_=ACKS.c.acked)
        },
    )


def _runs_above(db: Database) -> Any:
    """The stored sequences just above each listed device's watermark (at most ``_WALK`` each): one range
    scan of the primary key per device."""
    w, a = WINDOWS.c, ACKS.c
    return (
        sa.select(w.device_id, w.seq)
        .select_from(ACKS.join(WINDOWS, w.device_id == a.device_id))
        .where(a.device_id.in_(sa.bindparam("devices", expanding=True)), w.seq > a.acked)
        .where(w.seq <= a.acked + _WALK)
        .order_by(w.device_id, w.seq)
    )


def advance_many(conn: Connection, db: Database, floors: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """``advance_ack`` of every device in ``floors`` with a handful of statements, whatever their number:
    the watermarks in one read, the sequences just above them in another, the new watermarks in one
    executemany. A device with no watermark yet, a floor above it, a watermark near 2^63, or a run longer
    than one step of the walk, is walked on alone."""
    devices = sorted(floors)  # one order for every writer
    read = db.statement(
        "acks.read_many",
        lambda: sa.select(ACKS.c.device_id, ACKS.c.acked).where(
            ACKS.c.device_id.in_(sa.bindparam("devices", expanding=True))
        ),
    )
    stored = {d: int(m) for d, m in conn.execute(read, {"devices": devices})}
    together = [d for d in devices if d in stored and _clamp(floors[d]) <= stored[d] <= INT64_MAX - _WALK]
    above: dict[str, list[int]] = defaultdict(list)
    if together:
        for d, s in conn.execute(
            db.statement("windows.runs_above", lambda: _runs_above(db)), {"devices": together}
        ):
            above[d].append(int(s))
    marks: dict[str, int] = {}
    together_set = set(together)
    for d in devices:
        start = max(stored.get(d, 0), _clamp(floors[d]))
        if d not in together_set:
            marks[d] = _walk(conn, d, start)
            continue
        mark = start
        for s in above.get(d, ()):
            if s != mark + 1:
                break
            mark = s
        else:
            if mark == start + _WALK:  # a long run: walk on
                mark = _walk(conn, d, mark)
        marks[d] = mark
    moved = [{"device_id": d, "acked": m} for d, m in marks.items() if m > stored.get(d, -1)]
    if moved:
        conn.execute(db.statement("acks.upsert_many", lambda: _ack_upsert(db)), moved)
    # what is stored now: ours, or a higher one another replica wrote meanwhile (never lower)
    return tuple((d, max(m, stored.get(d, 0))) for d, m in marks.items())


def acked(db: Database, device_id: str) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(ACKS.c.acked).where(ACKS.c.device_id == device_id)).scalar() or 0)
