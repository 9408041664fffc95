"""Replicas: presence (which replica holds each device's stream, until when) and leases (one holder each).

Both are soft state: rows expire, nothing else refers to them, and a store without them loses nothing.

Revision ID: r0004
Revises: r0003 (benchmark jobs)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0004"
down_revision = "r0003"
branch_labels = None
depends_on = None

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "presence",
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("replica", sa.Text, nullable=False),
        sa.Column("last_seen", Real, nullable=False),
        sa.Column("expires", Real, nullable=False),
        sa.Column("conditions_json", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("presence_by_replica", "presence", ["replica"])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("since", Real, nullable=False),
        sa.Column("expires", Real, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("presence_by_replica", table_name="presence")
    op.drop_table("presence")
