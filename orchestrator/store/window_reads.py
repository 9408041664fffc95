"""Reading telemetry: windows (newest first, optionally the newest N per variant), counts, totals."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.results import VariantTotals
from edgefleet.orchestrator.store.tables import ACKS, VARIANT_TOTALS, WINDOWS
from edgefleet.orchestrator.store.telemetry import decode

__all__ = ["count_windows", "last_window_seq", "variant_totals", "windows"]


def windows(
    db: Database,
    *,
    model: str = "",
    profile: str = "",
    device_id: str = "",
    variant_id: str = "",
    since: float = 0.0,
    unflagged: bool = False,
    limit: int = 0,
    per_variant: int = 0,
) -> list[WindowRecord]:
    c = WINDOWS.c
    where: list[Any] = []
    if since:
        where.append(c.end_time >= since)
    for column, value in (
        ("model", model),
        ("profile", profile),
        ("device_id", device_id),
        ("variant_id", variant_id),
    ):
        if value:
            where.append(c[column] == value)
    if unflagged:
        where.append(c.flagged == 0)
    if per_variant:
        rank = (
            sa.func.row_number()
            .over(partition_by=(c.profile, c.variant_id), order_by=(c.end_time.desc(), c.seq.desc()))
            .label("rank")
        )
        inner = sa.select(c.record_json, c.end_time, c.seq, rank).where(*where).subquery()
        query = (
            sa.select(inner.c.record_json)
            .where(inner.c.rank <= int(per_variant))
            .order_by(inner.c.end_time.desc(), inner.c.seq.desc())
        )
    else:
        query = sa.select(c.record_json).where(*where).order_by(c.end_time.desc(), c.seq.desc())
    if limit:
        query = query.limit(int(limit))
    with db.read() as conn:
        return [decode(text) for text in conn.execute(query).scalars()]


def last_window_seq(db: Database, device_id: str) -> int:
    """The highest sequence stored (or acknowledged: pruning never makes it go back)."""
    with db.read() as conn:
        stored = conn.execute(
            sa.select(sa.func.max(WINDOWS.c.seq)).where(WINDOWS.c.device_id == device_id)
        ).scalar()
        mark = conn.execute(sa.select(ACKS.c.acked).where(ACKS.c.device_id == device_id)).scalar()
    return max(int(stored or 0), int(mark or 0))


def count_windows(db: Database, device_id: str = "") -> int:
    query = sa.select(sa.func.count()).select_from(WINDOWS)
    if device_id:
        query = query.where(WINDOWS.c.device_id == device_id)
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())


def variant_totals(db: Database, model: str = "", profile: str = "") -> list[VariantTotals]:
    t = VARIANT_TOTALS.c
    query = sa.select(VARIANT_TOTALS).order_by(t.model, t.profile, t.variant_id)
    if model:
        query = query.where(t.model == model)
    if profile:
        query = query.where(t.profile == profile)
    with db.read() as conn:
        return [VariantTotals(**row) for row in conn.execute(query).mappings()]
