"""Benchmark jobs and their per-device, per-candidate results.

Revision ID: r0003
Revises: r0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0003"
down_revision = "r0002"
branch_labels = None
depends_on = None

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "benchmark_jobs",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created", Real, nullable=False),
        sa.Column("record_json", sa.Text, nullable=False),
    )
    op.create_index("benchmark_jobs_by_family", "benchmark_jobs", ["model", "profile", "state"])
    op.create_table(
        "benchmark_results",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("device_id", sa.Text, primary_key=True),
        sa.Column("variant_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("reported", Real, nullable=False),
        sa.Column("record_json", sa.Text, nullable=False),
    )
    op.create_index("benchmark_results_by_family", "benchmark_results", ["model", "profile", "variant_id"])


def downgrade() -> None:
    op.drop_table("benchmark_results")
    op.drop_table("benchmark_jobs")
