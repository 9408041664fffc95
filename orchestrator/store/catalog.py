"""Families, variants, tokens, bundles, events and blocks: plain rows, first writer wins where it matters."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Row

from edgefleet.orchestrator.fleet.model import BundleRecord, EnrollmentToken
from edgefleet.orchestrator.rollout.model import Event
from edgefleet.orchestrator.store.base import Family
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.tables import BLOCKS, BUNDLES, EVENTS, FAMILIES, TOKENS, VARIANTS
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = [
    "add_event",
    "block",
    "blocked",
    "event_counts",
    "find_variants",
    "get_bundle",
    "get_family",
    "get_variant",
    "list_events",
    "list_families",
    "list_variants",
    "put_bundle",
    "put_family",
    "put_token",
    "put_variants",
    "token_exists",
    "unblock",
    "use_token",
]


def _family(row: Row[tuple[str, str, str, str, float]]) -> Family:
    return Family(
        model=row.model,
        eval_sha256=row.eval_sha256,
        labels=tuple(json.loads(row.labels_json)),
        sample_shape=tuple(json.loads(row.sample_shape_json)),
        created=float(row.created),
    )


def put_family(db: Database, family: Family) -> Family:
    values = {
        "model": family.model,
        "eval_sha256": family.eval_sha256,
        "labels_json": json.dumps(list(family.labels)),
        "sample_shape_json": json.dumps(list(family.sample_shape)),
        "created": family.created,
    }
    with db.write() as conn:
        conn.execute(db.insert(FAMILIES).values(values).on_conflict_do_nothing())
        row = conn.execute(sa.select(FAMILIES).where(FAMILIES.c.model == family.model)).one()
    return _family(row)


def get_family(db: Database, model: str) -> Family | None:
    with db.read() as conn:
        row = conn.execute(sa.select(FAMILIES).where(FAMILIES.c.model == model)).first()
    return _family(row) if row is not None else None


def list_families(db: Database) -> list[Family]:
    with db.read() as conn:
        return [_family(r) for r in conn.execute(sa.select(FAMILIES).order_by(FAMILIES.c.model))]


def put_variants(db: Database, cards: Sequence[VariantCard]) -> list[VariantCard]:
    ids = [c.variant_id for c in cards]
    with db.write() as conn:
        if cards:
            conn.execute(
                db.insert(VARIANTS).on_conflict_do_nothing(),
                [
                    {
                        "variant_id": c.variant_id,
                        "model": c.model,
                        "recipe": c.recipe,
                        "base_name": c.base_name,
                        "created": c.created,
                        "card_json": c.to_json(),
                    }
                    for c in cards
                ],
            )
        rows = conn.execute(
            sa.select(VARIANTS.c.variant_id, VARIANTS.c.card_json).where(VARIANTS.c.variant_id.in_(ids))
        ).all()
    stored = {r.variant_id: VariantCard.from_json(r.card_json) for r in rows}
    return [stored[i] for i in ids if i in stored]


def get_variant(db: Database, variant_id: str) -> VariantCard | None:
    with db.read() as conn:
        text = conn.execute(
            sa.select(VARIANTS.c.card_json).where(VARIANTS.c.variant_id == variant_id)
        ).scalar()
    return VariantCard.from_json(text) if text is not None else None


def find_variants(db: Database, prefix: str) -> list[VariantCard]:
    c = VARIANTS.c
    query = sa.select(c.variant_id, c.card_json).where(c.variant_id >= prefix, c.variant_id < prefix + "g")
    with db.read() as conn:
        rows = conn.execute(query.order_by(c.variant_id)).all()
    # the range narrows by index; the check is exact whatever the database's collation
    return [VariantCard.from_json(r.card_json) for r in rows if r.variant_id.startswith(prefix)]


def list_variants(db: Database, model: str = "") -> list[VariantCard]:
    c = VARIANTS.c
    query = sa.select(c.card_json).order_by(c.model, c.base_name, c.created, c.recipe)
    if model:
        query = query.where(c.model == model)
    with db.read() as conn:
        return [VariantCard.from_json(text) for text in conn.execute(query).scalars()]


def put_token(db: Database, token: EnrollmentToken) -> None:
    with db.write() as conn:
        conn.execute(sa.insert(TOKENS).values(dataclasses.asdict(token)))


def token_exists(db: Database, token_hash: str) -> bool:
    with db.read() as conn:
        return (
            conn.execute(sa.select(TOKENS.c.token_hash).where(TOKENS.c.token_hash == token_hash)).first()
            is not None
        )


def use_token(db: Database, token_hash: str, now: float, profile: str = "") -> EnrollmentToken | None:
    """One atomic decrement: of concurrent users of a one-time token exactly one gets it. A token bound to
    another profile than a given ``profile`` is returned unspent."""
    t = TOKENS.c
    valid = (t.token_hash == token_hash, t.expires > now, t.uses_left > 0)
    matching = sa.or_(t.profile == "", t.profile == profile) if profile else sa.true()
    with db.write() as conn:
        row = conn.execute(
            sa.update(TOKENS)
            .where(*valid, matching)
            .values(uses_left=t.uses_left - 1)
            .returning(t.token_hash, t.profile, t.expires, t.uses_left)
        ).first()
        if row is None and profile:
            row = conn.execute(
                sa.select(t.token_hash, t.profile, t.expires, t.uses_left).where(*valid)
            ).first()
    return (
        EnrollmentToken(row.token_hash, row.profile, float(row.expires), int(row.uses_left)) if row else None
    )


def put_bundle(db: Database, bundle: BundleRecord) -> BundleRecord:
    with db.write() as conn:
        conn.execute(db.insert(BUNDLES).values(dataclasses.asdict(bundle)).on_conflict_do_nothing())
        row = conn.execute(sa.select(BUNDLES).where(BUNDLES.c.variant_id == bundle.variant_id)).one()
    return BundleRecord(row.variant_id, row.sha256, int(row.size), bytes(row.signature), row.key_id)


def get_bundle(db: Database, variant_id: str) -> BundleRecord | None:
    with db.read() as conn:
        row = conn.execute(sa.select(BUNDLES).where(BUNDLES.c.variant_id == variant_id)).first()
    return (
        BundleRecord(row.variant_id, row.sha256, int(row.size), bytes(row.signature), row.key_id)
        if row
        else None
    )


def add_event(db: Database, event: Event) -> Event:
    doc = dataclasses.asdict(event)
    doc.pop("event_id")
    values = {
        "time": event.time,
        "kind": event.kind,
        "rollout_id": event.rollout_id,
        "device_id": event.device_id,
        "model": event.model,
        "rule": event.rule,
        "record_json": json.dumps(doc),
    }
    with db.write() as conn:
        event_id = conn.execute(sa.insert(EVENTS).values(values).returning(EVENTS.c.event_id)).scalar_one()
    return dataclasses.replace(event, event_id=int(event_id))


def list_events(
    db: Database,
    *,
    kind: str = "",
    rollout_id: str = "",
    device_id: str = "",
    model: str = "",
    after_id: int = 0,
    limit: int = 100,
) -> list[Event]:
    c = EVENTS.c
    query = sa.select(c.event_id, c.record_json).where(c.event_id > after_id)
    for column, value in (
        ("kind", kind),
        ("rollout_id", rollout_id),
        ("device_id", device_id),
        ("model", model),
    ):
        if value:
            query = query.where(c[column] == value)
    with db.read() as conn:
        rows = conn.execute(query.order_by(c.event_id).limit(limit)).all()
    return [Event(**{**json.loads(r.record_json), "event_id": int(r.event_id)}) for r in rows]


def event_counts(db: Database) -> dict[tuple[str, str], int]:
    c = EVENTS.c
    with db.read() as conn:
        rows = conn.execute(sa.select(c.kind, c.rule, sa.func.count()).group_by(c.kind, c.rule)).all()
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def block(db: Database, model: str, profile: str, variant_id: str, reason: str, now: float) -> None:
    values = {"model": model, "profile": profile, "variant_id": variant_id, "reason": reason, "created": now}
    stmt = db.insert(BLOCKS).values(values)
    with db.write() as conn:
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["model", "profile", "variant_id"],
                set_={"reason": stmt.excluded.reason, "created": stmt.excluded.created},
            )
        )


def unblock(db: Database, model: str, profile: str, variant_id: str) -> int:
    c = BLOCKS.c
    with db.write() as conn:
        return conn.execute(
            sa.delete(BLOCKS).where(c.model == model, c.profile == profile, c.variant_id == variant_id)
        ).rowcount


def blocked(db: Database, model: str, profile: str) -> dict[str, str]:
    c = BLOCKS.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(c.variant_id, c.reason).where(c.model == model, c.profile == profile)
        ).all()
    return {str(r.variant_id): str(r.reason) for r in rows}
