"""Migrations: stores made by the hand-written SQLite store (``PRAGMA user_version`` 1-4) are upgraded with
their data; the first Alembic revision is exactly that schema; a newer store is refused untouched;
replicas opening one database together migrate it once."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.store import Store, open_store
from edgefleet.orchestrator.store.migrate import MIGRATIONS, schema_head
from tests.helpers.records import device, rollout, window

# The DDL of the hand-written SqliteStore, user_version 1 to 4, as that code wrote it.
OLD_DDL = (
    """
    CREATE TABLE families (model TEXT PRIMARY KEY, eval_sha256 TEXT NOT NULL, labels_json TEXT NOT NULL,
        sample_shape_json TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE variants (variant_id TEXT PRIMARY KEY, model TEXT NOT NULL REFERENCES families(model),
        recipe TEXT NOT NULL, base_name TEXT NOT NULL, created REAL NOT NULL, card_json TEXT NOT NULL);
    CREATE INDEX variants_by_model ON variants(model, base_name, recipe);
    """,
    """
    CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, profile TEXT NOT NULL, expires REAL NOT NULL,
        uses_left INTEGER NOT NULL);
    CREATE TABLE devices (device_id TEXT PRIMARY KEY, profile TEXT NOT NULL, record_json TEXT NOT NULL);
    CREATE INDEX devices_by_profile ON devices(profile);
    CREATE TABLE bundles (variant_id TEXT PRIMARY KEY REFERENCES variants(variant_id), sha256 TEXT NOT NULL,
        size INTEGER NOT NULL, signature BLOB NOT NULL, key_id TEXT NOT NULL);
    """,
    """
    CREATE TABLE windows (device_id TEXT NOT NULL, seq INTEGER NOT NULL, profile TEXT NOT NULL,
        variant_id TEXT NOT NULL, model TEXT NOT NULL, end_time REAL NOT NULL, flagged INTEGER NOT NULL,
        record_json TEXT NOT NULL, PRIMARY KEY (device_id, seq));
    CREATE INDEX windows_by_variant ON windows(model, profile, variant_id, flagged);
    """,
    """
    CREATE TABLE rollouts (rollout_id TEXT PRIMARY KEY, model TEXT NOT NULL, state TEXT NOT NULL,
        record_json TEXT NOT NULL);
    CREATE TABLE events (event_id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,
        rollout_id TEXT NOT NULL, device_id TEXT NOT NULL, model TEXT NOT NULL, record_json TEXT NOT NULL);
    CREATE TABLE blocks (model TEXT NOT NULL, profile TEXT NOT NULL, variant_id TEXT NOT NULL,
        reason TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (model, profile, variant_id));
    """,
)


def _old_store(path: Path, version: int = 4) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(OLD_DDL[:version], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number}")
    return db


def _old_json(record: DeviceRecord) -> str:
    doc = dataclasses.asdict(record)
    doc.pop("online")
    doc.pop("version")  # the old records had no version
    return json.dumps(doc, sort_keys=True)


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    """A store as the old code left it: devices, a rollout, windows with a gap, events with rules."""
    path = tmp_path / "edgefleet.sqlite"
    db = _old_store(path)
    db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", ("t" * 64, "rpi4", 9e9, 1))
    for d in (device("rpi4-1"), device("rpi4-2")):
        db.execute("INSERT INTO devices VALUES (?, ?, ?)", (d.device_id, d.profile, _old_json(d)))
    r = rollout()
    doc = json.loads(r.to_json())
    doc.pop("version")
    db.execute("INSERT INTO rollouts VALUES (?, ?, ?, ?)", (r.rollout_id, r.model, r.state, json.dumps(doc)))
    for w in [window(1), window(2), window(3), window(5), window(6, flags=("x",)), window(1, "rpi4-2")]:
        row = (w.device_id, w.seq, w.profile, w.variant_id, w.model, w.end, int(bool(w.flags)))
        db.execute(
            "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*row, json.dumps(dataclasses.asdict(w)))
        )
    for kind, rule in (
        ("rollout.device_failed", "latency"),
        ("rollout.device_failed", "latency"),
        ("rollout.started", ""),
    ):
        doc = {"kind": kind, "message": "m", "time": 1.0, "rule": rule, "details": {}}
        db.execute(
            "INSERT INTO events (time, kind, rollout_id, device_id, model, record_json) VALUES (1, ?, '', '', '', ?)",
            (kind, json.dumps(doc)),
        )
    db.close()
    return path


def _open(path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{path}")
    try:
        yield store
    finally:
        store.close()


def test_a_store_made_by_the_old_code_is_stamped_and_upgraded(old_file: Path) -> None:
    for store in _open(old_file):
        d = store.get_device("rpi4-1")
        assert d == device("rpi4-1")
        assert d is not None
        assert d.version == 1
        r = store.get_rollout("ro-1")
        assert r == rollout()
        assert r is not None
        assert r.version == 1
        assert sorted(w.seq for w in store.windows(device_id="rpi4-1")) == [1, 2, 3, 5, 6]
        # the old server acknowledged MAX(seq): those agents already forgot their windows
        assert (store.acked("rpi4-1"), store.acked("rpi4-2")) == (6, 1)
        [totals] = store.variant_totals()
        assert (totals.windows, totals.inferences) == (5, 5 * 200)  # the unflagged ones
        assert store.event_counts() == {("rollout.device_failed", "latency"): 2, ("rollout.started", ""): 1}
        assert store.use_token("t" * 64, 1.0) is not None
        store.put_device(dataclasses.replace(d, phase="verifying"))  # CAS from version 1
        assert store.put_windows([window(7)]) == 1
    db = sqlite3.connect(old_file)
    assert db.execute("PRAGMA user_version").fetchone() == (5,)  # an older edgefleet refuses it: "newer"
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(schema_head(),)]
    db.close()
    for store in _open(old_file):  # and it opens again as it is
        assert store.get_device("rpi4-1").phase == "verifying"  # type: ignore[union-attr]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_schema_versions_are_first_brought_to_four(tmp_path: Path, version: int) -> None:
    path = tmp_path / "edgefleet.sqlite"
    _old_store(path, version).close()
    for store in _open(path):
        store.put_device(device())
        store.put_windows([window(1)])
        store.put_rollout(rollout())
        assert store.advance_ack("rpi4-1") == 1


def _schema(conn: sqlite3.Connection, tables: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for t in tables:
        indexes = conn.execute(f"PRAGMA index_list({t})").fetchall()
        out[t] = (
            conn.execute(f"PRAGMA table_info({t})").fetchall(),
            conn.execute(f"PRAGMA foreign_key_list({t})").fetchall(),
            sorted(
                (i[1], i[2], conn.execute(f"PRAGMA index_info({i[1]})").fetchall())
                for i in indexes
                if i[3] == "c"
            ),
        )
    return out


def _alembic(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_the_first_revision_is_exactly_the_old_schema(tmp_path: Path) -> None:
    _old_store(tmp_path / "old.sqlite").close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'new.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "r0001")
    engine.dispose()
    tables = [
        "families",
        "variants",
        "tokens",
        "devices",
        "bundles",
        "windows",
        "rollouts",
        "events",
        "blocks",
    ]
    old, new = sqlite3.connect(tmp_path / "old.sqlite"), sqlite3.connect(tmp_path / "new.sqlite")
    assert _schema(new, tables) == _schema(old, tables)
    old.close()
    new.close()


def test_downgrade_and_upgrade_again(store_url: str) -> None:
    open_store(store_url).close()
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        command.downgrade(_alembic(conn), "r0001")
    engine.dispose()
    store = open_store(store_url)
    store.put_device(device())
    assert store.get_device("rpi4-1").version == 1  # type: ignore[union-attr]
    store.close()


def test_a_newer_store_is_refused_and_left_untouched(store_url: str) -> None:
    open_store(store_url).close()
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'r9999'"))
    engine.dispose()
    before = (
        Path(store_url.removeprefix("sqlite:///")).read_bytes() if store_url.startswith("sqlite") else b""
    )
    with pytest.raises(FailedPrecondition, match=r"revision 'r9999' is newer than this edgefleet supports"):
        open_store(store_url)
    if before:
        assert Path(store_url.removeprefix("sqlite:///")).read_bytes() == before


def test_an_unknown_user_version_without_alembic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edgefleet.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 9")
    db.close()
    with pytest.raises(FailedPrecondition, match="schema version 9 is newer"):
        open_store(f"sqlite:///{path}")


def test_replicas_opening_together_migrate_once(store_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_store(store_url), range(4)))
    stores[0].put_device(device())
    assert all(s.get_device("rpi4-1") is not None for s in stores)
    for s in stores:
        s.close()
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(schema_head(),)]
    engine.dispose()
