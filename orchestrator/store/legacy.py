"""The schema before Alembic: versions 1-4 of ``PRAGMA user_version`` (SQLite only, frozen).

A file made by an older edgefleet is first brought to version 4 with these scripts, then stamped at the
first Alembic revision (which is exactly version 4) and upgraded from there.
"""

from __future__ import annotations

__all__ = ["LEGACY_MIGRATIONS", "LEGACY_VERSION"]

LEGACY_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE families (
        model TEXT PRIMARY KEY,
        eval_sha256 TEXT NOT NULL,
        labels_json TEXT NOT NULL,
        sample_shape_json TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE variants (
        variant_id TEXT PRIMARY KEY,
        model TEXT NOT NULL REFERENCES families(model),
        recipe TEXT NOT NULL,
        base_name TEXT NOT NULL,
        created REAL NOT NULL,
        card_json TEXT NOT NULL
    );
    CREATE INDEX variants_by_model ON variants(model, base_name, recipe);
    """,
    """
    CREATE TABLE tokens (
        token_hash TEXT PRIMARY KEY,
        profile TEXT NOT NULL,
        expires REAL NOT NULL,
        uses_left INTEGER NOT NULL
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        profile TEXT NOT NULL,
        record_json TEXT NOT NULL
    );
    CREATE INDEX devices_by_profile ON devices(profile);
    CREATE TABLE bundles (
        variant_id TEXT PRIMARY KEY REFERENCES variants(variant_id),
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        signature BLOB NOT NULL,
        key_id TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE windows (
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        profile TEXT NOT NULL,
        variant_id TEXT NOT NULL,
        model TEXT NOT NULL,
        end_time REAL NOT NULL,
        flagged INTEGER NOT NULL,
        record_json TEXT NOT NULL,
        PRIMARY KEY (device_id, seq)
    );
    CREATE INDEX windows_by_variant ON windows(model, profile, variant_id, flagged);
    """,
    """
    CREATE TABLE rollouts (
        rollout_id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        state TEXT NOT NULL,
        record_json TEXT NOT NULL
    );
    CREATE TABLE events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL,
        kind TEXT NOT NULL,
        rollout_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        model TEXT NOT NULL,
        record_json TEXT NOT NULL
    );
    CREATE TABLE blocks (
        model TEXT NOT NULL,
        profile TEXT NOT NULL,
        variant_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (model, profile, variant_id)
    );
    """,
)

#: The last ``user_version`` of the hand-written schema (= Alembic revision r0001).
LEGACY_VERSION = len(LEGACY_MIGRATIONS)
