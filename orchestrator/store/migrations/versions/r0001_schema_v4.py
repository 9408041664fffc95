"""The hand-written schema's version 4 (``PRAGMA user_version`` 4), exactly, on both dialects.

On SQLite the tables, declared types, NOT NULLs, keys and indexes are those of the old DDL (so a file made
by an older edgefleet, stamped at this revision, is the same database); PostgreSQL gets 64-bit integers
and double precision where SQLite's INTEGER and REAL already are.

Revision ID: r0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
#: A column type, or a type class.
_Kind = sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]


def _key(name: str, kind: _Kind) -> sa.Column[Any]:
    """A single-column key declared ``col TYPE PRIMARY KEY`` (SQLite records it as nullable)."""
    return sa.Column(name, kind, primary_key=True, nullable=True)


def _col(name: str, kind: _Kind) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=False)


def upgrade() -> None:
    op.create_table(
        "families",
        _key("model", sa.Text),
        _col("eval_sha256", sa.Text),
        _col("labels_json", sa.Text),
        _col("sample_shape_json", sa.Text),
        _col("created", Real),
    )
    op.create_table(
        "variants",
        _key("variant_id", sa.Text),
        sa.Column("model", sa.Text, sa.ForeignKey("families.model"), nullable=False),
        _col("recipe", sa.Text),
        _col("base_name", sa.Text),
        _col("created", Real),
        _col("card_json", sa.Text),
    )
    op.create_index("variants_by_model", "variants", ["model", "base_name", "recipe"])
    op.create_table(
        "tokens",
        _key("token_hash", sa.Text),
        _col("profile", sa.Text),
        _col("expires", Real),
        _col("uses_left", sa.Integer),
    )
    op.create_table(
        "devices",
        _key("device_id", sa.Text),
        _col("profile", sa.Text),
        _col("record_json", sa.Text),
    )
    op.create_index("devices_by_profile", "devices", ["profile"])
    op.create_table(
        "bundles",
        sa.Column(
            "variant_id", sa.Text, sa.ForeignKey("variants.variant_id"), primary_key=True, nullable=True
        ),
        _col("sha256", sa.Text),
        _col("size", BigInt),
        _col("signature", sa.LargeBinary),
        _col("key_id", sa.Text),
    )
    op.create_table(
        "windows",
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("seq", BigInt, nullable=False, autoincrement=False),
        _col("profile", sa.Text),
        _col("variant_id", sa.Text),
        _col("model", sa.Text),
        _col("end_time", Real),
        _col("flagged", sa.Integer),
        _col("record_json", sa.Text),
        sa.PrimaryKeyConstraint("device_id", "seq"),
    )
    op.create_index("windows_by_variant", "windows", ["model", "profile", "variant_id", "flagged"])
    op.create_table(
        "rollouts",
        _key("rollout_id", sa.Text),
        _col("model", sa.Text),
        _col("state", sa.Text),
        _col("record_json", sa.Text),
    )
    op.create_table(
        "events",
        sa.Column("event_id", BigInt, primary_key=True, autoincrement=True, nullable=True),
        _col("time", Real),
        _col("kind", sa.Text),
        _col("rollout_id", sa.Text),
        _col("device_id", sa.Text),
        _col("model", sa.Text),
        _col("record_json", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "blocks",
        _col("model", sa.Text),
        _col("profile", sa.Text),
        _col("variant_id", sa.Text),
        _col("reason", sa.Text),
        _col("created", Real),
        sa.PrimaryKeyConstraint("model", "profile", "variant_id"),
    )


def downgrade() -> None:
    for table in ("blocks", "events", "rollouts", "windows", "bundles", "devices", "tokens", "variants"):
        op.drop_table(table)
    op.drop_table("families")
