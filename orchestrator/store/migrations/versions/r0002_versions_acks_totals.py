"""Versions on devices and rollouts (compare-and-swap), the ack watermark, cumulative totals, retention.

Existing data is carried over: every device and rollout starts at version 1; each device's watermark is
its highest stored sequence (what the server acknowledged before, so its agent already forgot those
windows); the totals start from the stored unflagged windows; events get their rule as a column.

Revision ID: r0002
Revises: r0001
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
#: A column type, or a type class.
_Kind = sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]
_CHUNK = 5000
_MAX = 2**63 - 1


def _col(name: str, kind: _Kind) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=False)


def _sums() -> list[sa.Column[object]]:
    return [
        _col("windows", BigInt),
        _col("inferences", BigInt),
        _col("gross_joules", Real),
        _col("gross_inferences", BigInt),
        _col("dynamic_joules", Real),
        _col("dynamic_inferences", BigInt),
        _col("labelled", BigInt),
        _col("correct", BigInt),
    ]


def upgrade() -> None:
    op.add_column("devices", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("rollouts", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("events", sa.Column("rule", sa.Text, nullable=False, server_default=""))
    op.create_index("events_by_rule", "events", ["kind", "rule"])
    op.create_index("windows_by_end", "windows", ["end_time"])
    op.create_table(
        "acks",
        sa.Column("device_id", sa.Text, primary_key=True),
        _col("acked", BigInt),
    )
    op.create_table(
        "variant_totals",
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("variant_id", sa.Text, primary_key=True),
        *_sums(),
    )
    op.create_table(
        "window_hours",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("profile", sa.Text, primary_key=True),
        sa.Column("variant_id", sa.Text, primary_key=True),
        sa.Column("hour", BigInt, primary_key=True, autoincrement=False),
        _col("flagged", BigInt),
        *_sums(),
        _col("latency_p95_sum", Real),
        _col("cpu_percent_sum", Real),
        _col("first_start", Real),
        _col("last_end", Real),
    )
    _carry_over(op.get_bind())


def _carry_over(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO acks (device_id, acked) SELECT device_id, MAX(seq) FROM windows GROUP BY device_id"
        )
    )
    rules = []
    for event_id, text in conn.execute(sa.text("SELECT event_id, record_json FROM events")):
        rule = str(json.loads(text).get("rule") or "")
        if rule:
            rules.append({"i": event_id, "r": rule})
    if rules:
        conn.execute(sa.text("UPDATE events SET rule = :r WHERE event_id = :i"), rules)
    totals: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0, 0, 0.0, 0, 0, 0])
    rows = conn.execute(
        sa.text(
            "SELECT model, profile, variant_id, record_json FROM windows WHERE flagged = 0"
        ).execution_options(yield_per=_CHUNK)
    )
    for model, profile, variant_id, text in rows:
        _add(totals[(model, profile, variant_id)], json.loads(text))
    if totals:
        conn.execute(
            sa.text("INSERT INTO variant_totals VALUES (:m, :p, :v, :w, :n, :gj, :gn, :dj, :dn, :lab, :cor)"),
            [
                {
                    "m": m,
                    "p": p,
                    "v": v,
                    "w": min(t[0], _MAX),
                    "n": min(t[1], _MAX),
                    "gj": t[2],
                    "gn": min(t[3], _MAX),
                    "dj": t[4],
                    "dn": min(t[5], _MAX),
                    "lab": min(t[6], _MAX),
                    "cor": min(t[7], _MAX),
                }
                for (m, p, v), t in totals.items()
            ],
        )


def _add(t: list[Any], doc: dict[str, Any]) -> None:
    n = int(doc.get("inferences") or 0)
    t[0] += 1
    t[1] += n
    gross, dynamic = doc.get("gross_j"), doc.get("dynamic_j")
    if isinstance(gross, int | float) and math.isfinite(gross * n):
        t[2] += gross * n
        t[3] += n
    if isinstance(dynamic, int | float) and math.isfinite(dynamic * n):
        t[4] += dynamic * n
        t[5] += n
    t[6] += int(doc.get("labelled") or 0)
    t[7] += int(doc.get("correct") or 0)


def downgrade() -> None:
    op.drop_table("window_hours")
    op.drop_table("variant_totals")
    op.drop_table("acks")
    op.drop_index("windows_by_end", table_name="windows")
    op.drop_index("events_by_rule", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("rule")
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("version")
