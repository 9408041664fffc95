"""Telemetry windows: stored exactly once per (device, seq), rejected one by one, acknowledged contiguously.

A window the store cannot hold (a sequence beyond SQL's signed 64-bit range, a NUL in a name, ...) is
rejected alone with the reason; the rest of the call is stored. The running totals per variant grow in the
same transaction as the new unflagged windows. The ack watermark of a device only moves forward: over the
agent's declared "dropped through" floor and then over every consecutive stored sequence.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.results import RejectedWindow, StoredWindows
from edgefleet.orchestrator.store.tables import ACKS, VARIANT_TOTALS, WINDOWS
from edgefleet.orchestrator.store.watermarks import INT64_MAX, advance_many

__all__ = ["INT64_MAX", "Sums", "decode", "saturating_sums", "store_windows"]

_FIELDS = tuple(f.name for f in dataclasses.fields(WindowRecord))
_TEXT = ("device_id", "profile", "variant_id", "model", "recipe", "energy_kind", "energy_method")
_COUNTS = ("inferences", "labelled", "correct", "rss_bytes")
#: What one bad row can make a database refuse; anything else (a full disk, a lost server) fails the call.
_ROW_ERRORS = (sa_exc.IntegrityError, sa_exc.DataError, OverflowError, ValueError)
_ENCODE = json.JSONEncoder(check_circular=False).encode


@dataclasses.dataclass(slots=True)
class Sums:
    """Counts and energy sums over windows (``gross_joules`` = sum of gross_j x inferences)."""

    windows: int = 0
    inferences: int = 0
    gross_joules: float = 0.0
    gross_inferences: int = 0
    dynamic_joules: float = 0.0
    dynamic_inferences: int = 0
    labelled: int = 0
    correct: int = 0

    def add(self, w: WindowRecord) -> None:
        n = w.inferences
        self.windows += 1
        self.inferences += n
        if w.gross_j is not None and math.isfinite(w.gross_j * n):
            self.gross_joules += w.gross_j * n
            self.gross_inferences += n
        if w.dynamic_j is not None and math.isfinite(w.dynamic_j * n):
            self.dynamic_joules += w.dynamic_j * n
            self.dynamic_inferences += n
        self.labelled += w.labelled
        self.correct += w.correct

    def values(self) -> dict[str, Any]:
        return {
            k: min(v, INT64_MAX) if isinstance(v, int) else v for k, v in dataclasses.asdict(self).items()
        }


def saturating_sums(stmt: Any, table: sa.Table, columns: Iterable[str]) -> dict[str, Any]:
    """ON CONFLICT DO UPDATE values adding ``excluded`` to the row; integers stop at 2^63-1 (no overflow)."""
    out: dict[str, Any] = {}
    for name in columns:
        old, new = table.c[name], stmt.excluded[name]
        if isinstance(table.c[name].type, sa.Integer):
            out[name] = sa.case((old > INT64_MAX - new, INT64_MAX), else_=old + new)
        else:
            out[name] = old + new
    return out


def problem(w: WindowRecord) -> str:
    """Why the store cannot hold this window ("" when it can)."""
    if type(w.seq) is not int or not 1 <= w.seq <= INT64_MAX:
        return f"sequence {w.seq} is outside 1..2^63-1 (what the store can key)"
    for name in _COUNTS:
        value = getattr(w, name)
        if type(value) is not int or not 0 <= value <= INT64_MAX:
            return f"{name} {value} is outside 0..2^63-1"
    for name in ("start", "end"):
        value = getattr(w, name)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return f"{name} time {value!r} is not a finite number"
    texts = [getattr(w, n) for n in _TEXT] + list(w.flags)
    if not all(isinstance(t, str) for t in texts):
        return "a name or flag is not text"
    joined = "".join(texts)
    if not joined.isprintable() and ("\x00" in joined or not _encodable(joined)):
        bad = next(t for t in texts if "\x00" in t or not _encodable(t))
        return f"{bad[:40]!r} is not storable text (NUL or invalid Unicode)"
    return ""


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _row(w: WindowRecord) -> dict[str, Any]:
    doc = {name: getattr(w, name) for name in _FIELDS}
    doc["flags"] = list(w.flags)
    return {
        "device_id": w.device_id,
        "seq": w.seq,
        "profile": w.profile,
        "variant_id": w.variant_id,
        "model": w.model,
        "end_time": w.end,
        "flagged": int(bool(w.flags)),
        "record_json": _ENCODE(doc),
    }


def decode(text: str) -> WindowRecord:
    doc = json.loads(text)
    return WindowRecord(**{**doc, "flags": tuple(doc["flags"])})


def store_windows(
    db: Database, windows: Sequence[WindowRecord], floors: Mapping[str, int] | None = None
) -> StoredWindows:
    """Store the windows; with ``floors`` (device -> its "dropped through" floor) then advance those devices'
    watermarks, in the same transaction (one commit for a whole group of batches)."""
    with db.write() as conn:
        stored = _store(conn, db, windows)
        if floors:
            stored = dataclasses.replace(stored, acked=advance_many(conn, db, floors))
    return stored


def _store(conn: Connection, db: Database, windows: Sequence[WindowRecord]) -> StoredWindows:
    rejected: list[RejectedWindow] = []
    duplicates: list[tuple[str, int]] = []
    candidates: dict[tuple[str, int], WindowRecord] = {}
    for w in windows:
        reason = problem(w)
        if reason:
            rejected.append(RejectedWindow(w.device_id, w.seq, reason))
        elif (w.device_id, w.seq) in candidates:
            duplicates.append((w.device_id, w.seq))
        else:
            candidates[(w.device_id, w.seq)] = w
    new: list[WindowRecord] = []
    if candidates:
        devices = sorted({d for d, _ in candidates})
        # FOR SHARE (PostgreSQL): no replica moves these watermarks, and so prunes below them, meanwhile
        query = (
            sa.select(ACKS.c.device_id, ACKS.c.acked)
            .where(ACKS.c.device_id.in_(devices))
            .with_for_update(read=True)
        )
        marks = {d: int(a) for d, a in conn.execute(query)}
        fresh = []
        for key in sorted(candidates):  # one order for every writer: no deadlock between replicas
            if key[1] > marks.get(key[0], 0):
                fresh.append(candidates[key])
            else:
                duplicates.append(key)
        inserted = _insert(conn, db, fresh, rejected)
        refused = {(r.device_id, r.seq) for r in rejected}
        for w in fresh:
            key = (w.device_id, w.seq)
            if key in inserted:
                new.append(w)
            elif key not in refused:
                duplicates.append(key)
        _add_totals(conn, db, [w for w in new if not w.flags])
    return StoredWindows(
        new=tuple((w.device_id, w.seq) for w in new), duplicates=tuple(duplicates), rejected=tuple(rejected)
    )


_COLUMNS = ("device_id", "seq", "profile", "variant_id", "model", "end_time", "flagged", "record_json")
#: SQLite: the rows go straight to the driver's executemany (SQLAlchemy's per-row parameter processing and
#: the multi-row RETURNING it builds cost more than SQLite's own work: issue 19's ingest profile).
_SQLITE_INSERT = (
    f"INSERT INTO {WINDOWS.name} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT DO NOTHING"
)


def _insert_all_new(conn: Connection, ws: list[WindowRecord]) -> bool:
    """SQLite, in a savepoint: insert every row, keep them if each one was new (the usual case: the
    caller has dropped what is at or below the watermarks) and say so; otherwise roll back and say so.
    Within the write transaction (BEGIN IMMEDIATE) nobody else writes, so the count is exact."""
    rows = [tuple(r[c] for c in _COLUMNS) for r in map(_row, ws)]
    savepoint = conn.begin_nested()
    try:
        inserted = conn.exec_driver_sql(_SQLITE_INSERT, rows).rowcount
    except _ROW_ERRORS:
        savepoint.rollback()
        return False
    if inserted == len(ws):
        savepoint.commit()
        return True
    savepoint.rollback()
    return False


def _insert(
    conn: Connection, db: Database, ws: list[WindowRecord], rejected: list[RejectedWindow]
) -> set[tuple[str, int]]:
    """Insert in one statement; if the database refuses it, row by row, each refused row rejected alone."""
    if not ws:
        return set()
    if not db.postgresql and len(ws) > 1 and _insert_all_new(conn, ws):
        return {(w.device_id, w.seq) for w in ws}
    stmt = db.statement(
        "windows.insert",
        lambda: db.insert(WINDOWS).on_conflict_do_nothing().returning(WINDOWS.c.device_id, WINDOWS.c.seq),
    )
    try:
        with conn.begin_nested():
            return {(d, int(s)) for d, s in conn.execute(stmt, [_row(w) for w in ws])}
    except _ROW_ERRORS as exc:
        if len(ws) == 1:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
            rejected.append(RejectedWindow(ws[0].device_id, ws[0].seq, f"the database refused it: {reason}"))
            return set()
    done: set[tuple[str, int]] = set()
    for w in ws:
        done |= _insert(conn, db, [w], rejected)
    return done


_TOTALS_KEY = ("model", "profile", "variant_id")
_SUMS = tuple(f.name for f in dataclasses.fields(Sums))


def _totals_upsert(db: Database) -> Any:
    stmt = db.insert(VARIANT_TOTALS)
    return stmt.on_conflict_do_update(
        index_elements=list(_TOTALS_KEY), set_=saturating_sums(stmt, VARIANT_TOTALS, _SUMS)
    )


def _add_totals(conn: Connection, db: Database, ws: list[WindowRecord]) -> None:
    sums: dict[tuple[str, str, str], Sums] = defaultdict(Sums)
    for w in ws:
        sums[(w.model, w.profile, w.variant_id)].add(w)
    if sums:  # one row per key, in one order for every writer
        rows = [{**dict(zip(_TOTALS_KEY, key, strict=True)), **s.values()} for key, s in sorted(sums.items())]
        conn.execute(db.statement("totals.upsert", lambda: _totals_upsert(db)), rows)
