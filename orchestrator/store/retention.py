"""Retention: windows older than a cutoff are folded into hourly aggregates and deleted, in batches.

Only windows at or below their device's ack watermark are pruned: the agent has forgotten those, so none
can come back and be stored twice (a window at or below the watermark is a duplicate by definition). A
window above a gap the agent has not resolved yet stays until it is acknowledged. The running totals per
variant are not touched.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.results import HourlyWindows
from edgefleet.orchestrator.store.tables import ACKS, WINDOW_HOURS, WINDOWS
from edgefleet.orchestrator.store.telemetry import Sums, decode, saturating_sums

__all__ = ["hourly_windows", "prune_windows"]

#: Windows folded and deleted per transaction (each batch commits: a long prune never holds the store).
BATCH = 2000
_KEY = ("device_id", "model", "profile", "variant_id", "hour")


@dataclass(slots=True)
class _Hour:
    sums: Sums = field(default_factory=Sums)
    flagged: int = 0
    latency_p95_sum: float = 0.0
    cpu_percent_sum: float = 0.0
    first_start: float = math.inf
    last_end: float = -math.inf


def prune_windows(db: Database, older_than: float, *, batch: int = BATCH) -> int:
    """Fold and delete acknowledged windows that ended before ``older_than``; returns how many."""
    total = 0
    while True:
        with db.write() as conn:
            done = _prune_batch(conn, db, older_than, batch)
        total += done
        if done < batch:
            return total


def _prune_batch(conn: Connection, db: Database, older_than: float, batch: int) -> int:
    w = WINDOWS.c
    rows = conn.execute(
        sa.select(w.device_id, w.seq, w.record_json)
        .join(ACKS, ACKS.c.device_id == w.device_id)
        .where(w.end_time < older_than, w.seq <= ACKS.c.acked)
        .order_by(w.end_time)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    hours: dict[tuple[str, str, str, str, int], _Hour] = defaultdict(_Hour)
    seqs: dict[str, list[int]] = defaultdict(list)
    for device_id, seq, text in rows:
        window = decode(text)
        seqs[device_id].append(int(seq))
        h = hours[
            (device_id, window.model, window.profile, window.variant_id, int(window.end // 3600) * 3600)
        ]
        h.first_start = min(h.first_start, window.start)
        h.last_end = max(h.last_end, window.end)
        if window.flags:
            h.flagged += 1
            h.sums.windows += 1
            continue
        h.sums.add(window)
        if math.isfinite(window.latency_p95_s):
            h.latency_p95_sum += window.latency_p95_s
        if math.isfinite(window.cpu_percent):
            h.cpu_percent_sum += window.cpu_percent
    for key, h in sorted(hours.items()):
        values: dict[str, Any] = {
            **h.sums.values(),
            "flagged": h.flagged,
            "latency_p95_sum": h.latency_p95_sum,
            "cpu_percent_sum": h.cpu_percent_sum,
        }
        stmt = db.insert(WINDOW_HOURS).values(
            **dict(zip(_KEY, key, strict=True)), **values, first_start=h.first_start, last_end=h.last_end
        )
        t = WINDOW_HOURS.c
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=list(_KEY),
                set_={
                    **saturating_sums(stmt, WINDOW_HOURS, values),
                    "first_start": sa.case(
                        (stmt.excluded.first_start < t.first_start, stmt.excluded.first_start),
                        else_=t.first_start,
                    ),
                    "last_end": sa.case(
                        (stmt.excluded.last_end > t.last_end, stmt.excluded.last_end), else_=t.last_end
                    ),
                },
            )
        )
    for device_id, device_seqs in sorted(seqs.items()):
        conn.execute(sa.delete(WINDOWS).where(w.device_id == device_id, w.seq.in_(device_seqs)))
    return len(rows)


def hourly_windows(
    db: Database, *, device_id: str = "", model: str = "", profile: str = "", variant_id: str = ""
) -> list[HourlyWindows]:
    t = WINDOW_HOURS.c
    query = sa.select(WINDOW_HOURS)
    for column, value in (
        ("device_id", device_id),
        ("model", model),
        ("profile", profile),
        ("variant_id", variant_id),
    ):
        if value:
            query = query.where(t[column] == value)
    with db.read() as conn:
        rows = conn.execute(query.order_by(t.hour, t.device_id, t.model, t.profile, t.variant_id)).mappings()
        return [HourlyWindows(**row) for row in rows]
