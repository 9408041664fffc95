"""The store's tables at the newest schema revision, defined once for both dialects.

The migrations (``migrations/versions``) create and change them; this module only describes the result
for the queries. SQLite keeps today's declared types (``INTEGER``, ``REAL``); PostgreSQL gets 64-bit
integers and double precision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = [
    "ACKS",
    "BENCHMARK_JOBS",
    "BENCHMARK_RESULTS",
    "BLOCKS",
    "BUNDLES",
    "DEVICES",
    "EVENTS",
    "FAMILIES",
    "LEASES",
    "METADATA",
    "PRESENCE",
    "ROLLOUTS",
    "TOKENS",
    "VARIANTS",
    "VARIANT_TOTALS",
    "WINDOWS",
    "WINDOW_HOURS",
    "BigInt",
    "Real",
]

#: 64-bit on PostgreSQL; SQLite's INTEGER is 64-bit already (and only ``INTEGER`` makes a rowid alias).
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Double precision on PostgreSQL (its REAL is 32-bit); SQLite's REAL is a double.
Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
#: A column type, or a type class.
_Kind = sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]

METADATA = sa.MetaData()


def _col(name: str, kind: _Kind) -> sa.Column[Any]:
    return sa.Column(name, kind, nullable=False)


FAMILIES = sa.Table(
    "families",
    METADATA,
    sa.Column("model", sa.Text, primary_key=True),
    _col("eval_sha256", sa.Text),
    _col("labels_json", sa.Text),
    _col("sample_shape_json", sa.Text),
    _col("created", Real),
)

VARIANTS = sa.Table(
    "variants",
    METADATA,
    sa.Column("variant_id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, sa.ForeignKey("families.model"), nullable=False),
    _col("recipe", sa.Text),
    _col("base_name", sa.Text),
    _col("created", Real),
    _col("card_json", sa.Text),
)

TOKENS = sa.Table(
    "tokens",
    METADATA,
    sa.Column("token_hash", sa.Text, primary_key=True),
    _col("profile", sa.Text),
    _col("expires", Real),
    _col("uses_left", sa.Integer),
)

DEVICES = sa.Table(
    "devices",
    METADATA,
    sa.Column("device_id", sa.Text, primary_key=True),
    _col("profile", sa.Text),
    _col("record_json", sa.Text),
    _col("version", sa.Integer),
)

BUNDLES = sa.Table(
    "bundles",
    METADATA,
    sa.Column("variant_id", sa.Text, sa.ForeignKey("variants.variant_id"), primary_key=True),
    _col("sha256", sa.Text),
    _col("size", BigInt),
    _col("signature", sa.LargeBinary),
    _col("key_id", sa.Text),
)

WINDOWS = sa.Table(
    "windows",
    METADATA,
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("seq", BigInt, primary_key=True, autoincrement=False),
    _col("profile", sa.Text),
    _col("variant_id", sa.Text),
    _col("model", sa.Text),
    _col("end_time", Real),
    _col("flagged", sa.Integer),
    _col("record_json", sa.Text),
)

ROLLOUTS = sa.Table(
    "rollouts",
    METADATA,
    sa.Column("rollout_id", sa.Text, primary_key=True),
    _col("model", sa.Text),
    _col("state", sa.Text),
    _col("record_json", sa.Text),
    _col("version", sa.Integer),
)

EVENTS = sa.Table(
    "events",
    METADATA,
    sa.Column("event_id", BigInt, primary_key=True, autoincrement=True),
    _col("time", Real),
    _col("kind", sa.Text),
    _col("rollout_id", sa.Text),
    _col("device_id", sa.Text),
    _col("model", sa.Text),
    _col("record_json", sa.Text),
    _col("rule", sa.Text),
    sqlite_autoincrement=True,
)

BLOCKS = sa.Table(
    "blocks",
    METADATA,
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("variant_id", sa.Text, primary_key=True),
    _col("reason", sa.Text),
    _col("created", Real),
)

#: Per device: every window up to ``acked`` is stored, was pruned after being stored, or was declared
#: dropped by the agent; the agent may forget them.
ACKS = sa.Table(
    "acks",
    METADATA,
    sa.Column("device_id", sa.Text, primary_key=True),
    _col("acked", BigInt),
)

#: Running totals per (model, profile, variant) over every new, unflagged window ever stored: they only grow.
VARIANT_TOTALS = sa.Table(
    "variant_totals",
    METADATA,
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("variant_id", sa.Text, primary_key=True),
    _col("windows", BigInt),
    _col("inferences", BigInt),
    #: sum of gross_j x inferences over the windows that had a gross figure, and those inferences
    _col("gross_joules", Real),
    _col("gross_inferences", BigInt),
    _col("dynamic_joules", Real),
    _col("dynamic_inferences", BigInt),
    _col("labelled", BigInt),
    _col("correct", BigInt),
)

#: Pruned windows, folded per device, variant and hour (of the window's end): sums that recompute means.
WINDOW_HOURS = sa.Table(
    "window_hours",
    METADATA,
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, primary_key=True),
    sa.Column("profile", sa.Text, primary_key=True),
    sa.Column("variant_id", sa.Text, primary_key=True),
    sa.Column("hour", BigInt, primary_key=True, autoincrement=False),
    _col("flagged", BigInt),
    _col("windows", BigInt),
    _col("inferences", BigInt),
    _col("gross_joules", Real),
    _col("gross_inferences", BigInt),
    _col("dynamic_joules", Real),
    _col("dynamic_inferences", BigInt),
    _col("labelled", BigInt),
    _col("correct", BigInt),
    _col("latency_p95_sum", Real),
    _col("cpu_percent_sum", Real),
    _col("first_start", Real),
    _col("last_end", Real),
)


BENCHMARK_JOBS = sa.Table(
    "benchmark_jobs",
    METADATA,
    sa.Column("job_id", sa.Text, primary_key=True),
    _col("model", sa.Text),
    _col("profile", sa.Text),
    _col("state", sa.Text),
    _col("created", Real),
    _col("record_json", sa.Text),
)

BENCHMARK_RESULTS = sa.Table(
    "benchmark_results",
    METADATA,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("variant_id", sa.Text, primary_key=True),
    _col("model", sa.Text),
    _col("profile", sa.Text),
    _col("reported", Real),
    _col("record_json", sa.Text),
)

#: Which replica holds each device's stream, as of ``last_seen``; void after ``expires`` (soft state).
PRESENCE = sa.Table(
    "presence",
    METADATA,
    sa.Column("device_id", sa.Text, primary_key=True),
    _col("replica", sa.Text),
    _col("last_seen", Real),
    _col("expires", Real),
    _col("conditions_json", sa.Text),
)

#: Named leases (a rollout, the fleet gauges, a replica's own liveness): one holder until ``expires``.
LEASES = sa.Table(
    "leases",
    METADATA,
    sa.Column("name", sa.Text, primary_key=True),
    _col("holder", sa.Text),
    _col("since", Real),
    _col("expires", Real),
)
