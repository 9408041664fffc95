"""SQLite store: one file, WAL mode, schema versioned with ``PRAGMA user_version``."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from edgefleet.core.errors import EdgefleetError, FailedPrecondition, Unavailable
from edgefleet.orchestrator.fleet.codec import device_from_json, device_to_json
from edgefleet.orchestrator.fleet.model import BundleRecord, DeviceRecord, EnrollmentToken, WindowRecord
from edgefleet.orchestrator.rollout.model import Event, RolloutRecord
from edgefleet.orchestrator.store.base import Family, Store
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["SqliteStore"]

MIGRATIONS: tuple[str, ...] = (
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


def _translated(path: Path, exc: sqlite3.DatabaseError) -> EdgefleetError:
    """Locked or busy: UNAVAILABLE, retry later (nothing was written). Corrupt: FAILED_PRECONDITION."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return Unavailable(
            f"{path}: the store is locked by another process ({text}); nothing was written, retry"
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return FailedPrecondition(f"{path}: the store refused the change ({text})")
    return FailedPrecondition(f"{path}: store error ({text}); the file was left untouched")


class SqliteStore(Store):
    """``busy_timeout_s``: how long a write waits for another process's lock before UNAVAILABLE."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            problem = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {problem}")
            self._migrate()
        except sqlite3.OperationalError as exc:
            raise _translated(path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise FailedPrecondition(
                f"{path}: the store is unreadable or corrupt ({exc}); it was left untouched: restore it "
                f"from a backup or move it aside"
            ) from exc

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise FailedPrecondition(
                f"{self.path}: store schema version {version} is newer than this edgefleet "
                f"supports ({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx() as db:
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise _translated(self.path, exc) from exc
            try:
                yield self._db
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise _translated(self.path, exc) from exc
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._db.execute("ROLLBACK")
                raise _translated(self.path, exc) from exc

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cur = self._db.execute(sql, tuple(args))
                return list(cur.fetchall())
            except sqlite3.DatabaseError as exc:
                raise _translated(self.path, exc) from exc

    # ---- families ----
    @staticmethod
    def _family(row: Sequence[object]) -> Family:
        return Family(
            model=str(row[0]),
            eval_sha256=str(row[1]),
            labels=tuple(json.loads(str(row[2]))),
            sample_shape=tuple(json.loads(str(row[3]))),
            created=float(row[4]),  # type: ignore[arg-type]
        )

    def put_family(self, family: Family) -> Family:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO families VALUES (?, ?, ?, ?, ?)",
                (
                    family.model,
                    family.eval_sha256,
                    json.dumps(list(family.labels)),
                    json.dumps(list(family.sample_shape)),
                    family.created,
                ),
            )
        stored = self.get_family(family.model)
        assert stored is not None
        return stored

    def get_family(self, model: str) -> Family | None:
        rows = self._query("SELECT * FROM families WHERE model = ?", (model,))
        return self._family(rows[0]) if rows else None

    def list_families(self) -> list[Family]:
        return [self._family(r) for r in self._query("SELECT * FROM families ORDER BY model")]

    # ---- variants ----
    def put_variants(self, cards: Sequence[VariantCard]) -> list[VariantCard]:
        with self._tx() as db:
            for card in cards:
                db.execute(
                    "INSERT OR IGNORE INTO variants VALUES (?, ?, ?, ?, ?, ?)",
                    (card.variant_id, card.model, card.recipe, card.base_name, card.created, card.to_json()),
                )
        stored = [self.get_variant(c.variant_id) for c in cards]
        return [c for c in stored if c is not None]

    def get_variant(self, variant_id: str) -> VariantCard | None:
        rows = self._query("SELECT card_json FROM variants WHERE variant_id = ?", (variant_id,))
        return VariantCard.from_json(rows[0][0]) if rows else None

    def find_variants(self, prefix: str) -> list[VariantCard]:
        rows = self._query(
            "SELECT card_json FROM variants WHERE variant_id >= ? AND variant_id < ? ORDER BY variant_id",
            (prefix, prefix + "g"),
        )
        return [VariantCard.from_json(r[0]) for r in rows]

    def list_variants(self, model: str = "") -> list[VariantCard]:
        sql = "SELECT card_json FROM variants"
        args: tuple[str, ...] = ()
        if model:
            sql += " WHERE model = ?"
            args = (model,)
        rows = self._query(sql + " ORDER BY model, base_name, created, recipe", args)
        return [VariantCard.from_json(r[0]) for r in rows]

    # ---- fleet ----
    def put_token(self, token: EnrollmentToken) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                (token.token_hash, token.profile, token.expires, token.uses_left),
            )

    def token_exists(self, token_hash: str) -> bool:
        return bool(self._query("SELECT 1 FROM tokens WHERE token_hash = ?", (token_hash,)))

    def use_token(self, token_hash: str, now: float, *, profile: str = "") -> EnrollmentToken | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM tokens WHERE token_hash = ? AND expires > ? AND uses_left > 0",
                (token_hash, now),
            ).fetchone()
            if row is None:
                return None
            token = EnrollmentToken(str(row[0]), str(row[1]), float(row[2]), int(row[3]))
            if token.profile and token.profile != profile:
                return token
            db.execute("UPDATE tokens SET uses_left = uses_left - 1 WHERE token_hash = ?", (token_hash,))
        return dataclasses.replace(token, uses_left=token.uses_left - 1)

    def put_device(self, device: DeviceRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO devices VALUES (?, ?, ?)",
                (device.device_id, device.profile, device_to_json(device)),
            )

    def get_device(self, device_id: str) -> DeviceRecord | None:
        rows = self._query("SELECT record_json FROM devices WHERE device_id = ?", (device_id,))
        return device_from_json(rows[0][0]) if rows else None

    def list_devices(self, profile: str = "") -> list[DeviceRecord]:
        sql, args = "SELECT record_json FROM devices", tuple[str, ...]()

        if profile:
            sql, args = sql + " WHERE profile = ?", (profile,)
        return [device_from_json(r[0]) for r in self._query(sql + " ORDER BY device_id", args)]

    def put_bundle(self, bundle: BundleRecord) -> BundleRecord:
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO bundles VALUES (?, ?, ?, ?, ?)",
                (bundle.variant_id, bundle.sha256, bundle.size, bundle.signature, bundle.key_id),
            )
        stored = self.get_bundle(bundle.variant_id)
        assert stored is not None
        return stored

    def get_bundle(self, variant_id: str) -> BundleRecord | None:
        rows = self._query("SELECT * FROM bundles WHERE variant_id = ?", (variant_id,))
        if not rows:
            return None
        r = rows[0]
        return BundleRecord(str(r[0]), str(r[1]), int(r[2]), bytes(r[3]), str(r[4]))

    # ---- telemetry ----
    def put_windows(self, windows: Sequence[WindowRecord]) -> int:
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        w.device_id,
                        w.seq,
                        w.profile,
                        w.variant_id,
                        w.model,
                        w.end,
                        int(bool(w.flags)),
                        json.dumps(dataclasses.asdict(w)),
                    )
                    for w in windows
                ],
            )
            return db.total_changes - before

    def last_window_seq(self, device_id: str) -> int:
        rows = self._query("SELECT MAX(seq) FROM windows WHERE device_id = ?", (device_id,))
        return int(rows[0][0] or 0)

    def windows(
        self,
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
        clauses: list[str] = []
        args: list[object] = []
        if since:
            clauses.append("end_time >= ?")
            args.append(since)
        filters = (
            ("model", model),
            ("profile", profile),
            ("device_id", device_id),
            ("variant_id", variant_id),
        )
        for column, value in filters:
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        if unflagged:
            clauses.append("flagged = 0")
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        if per_variant:
            sql = (
                "SELECT record_json FROM (SELECT record_json, end_time, seq, ROW_NUMBER() OVER ("
                "PARTITION BY profile, variant_id ORDER BY end_time DESC, seq DESC) AS rn FROM windows"
                f"{where}) WHERE rn <= {int(per_variant)}"
            )
        else:
            sql = "SELECT record_json FROM windows" + where
        sql += " ORDER BY end_time DESC, seq DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [_window(r[0]) for r in self._query(sql, args)]

    def count_windows(self, device_id: str = "") -> int:
        sql, args = "SELECT COUNT(*) FROM windows", tuple[str, ...]()
        if device_id:
            sql, args = sql + " WHERE device_id = ?", (device_id,)
        return int(self._query(sql, args)[0][0])

    # ---- rollouts, events, blocks ----
    def put_rollout(self, rollout: RolloutRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO rollouts VALUES (?, ?, ?, ?)",
                (rollout.rollout_id, rollout.model, rollout.state, rollout.to_json()),
            )

    def get_rollout(self, rollout_id: str) -> RolloutRecord | None:
        rows = self._query("SELECT record_json FROM rollouts WHERE rollout_id = ?", (rollout_id,))
        return RolloutRecord.from_json(rows[0][0]) if rows else None

    def list_rollouts(self, model: str = "", states: Sequence[str] = ()) -> list[RolloutRecord]:
        clauses: list[str] = []
        args: list[object] = []
        if model:
            clauses.append("model = ?")
            args.append(model)
        if states:
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self._query(f"SELECT record_json FROM rollouts{where} ORDER BY rollout_id", args)
        return [RolloutRecord.from_json(r[0]) for r in rows]

    def add_event(self, event: Event) -> Event:
        doc = dataclasses.asdict(event)
        doc.pop("event_id")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO events (time, kind, rollout_id, device_id, model, record_json) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (event.time, event.kind, event.rollout_id, event.device_id, event.model, json.dumps(doc)),
            )
            return dataclasses.replace(event, event_id=int(cur.lastrowid or 0))

    def list_events(
        self,
        *,
        kind: str = "",
        rollout_id: str = "",
        device_id: str = "",
        model: str = "",
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Event]:
        clauses: list[str] = ["event_id > ?"]
        args: list[object] = [after_id]
        for column, value in (
            ("kind", kind),
            ("rollout_id", rollout_id),
            ("device_id", device_id),
            ("model", model),
        ):
            if value:
                clauses.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT event_id, record_json FROM events WHERE "
            + " AND ".join(clauses)
            + " ORDER BY event_id LIMIT ?"
        )
        rows = self._query(sql, [*args, limit])
        return [Event(**{**json.loads(r[1]), "event_id": int(r[0])}) for r in rows]

    def event_counts(self) -> dict[tuple[str, str], int]:
        rows = self._query(
            "SELECT kind, COALESCE(json_extract(record_json, '$.rule'), ''), COUNT(*) "
            "FROM events GROUP BY 1, 2"
        )
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def block(self, model: str, profile: str, variant_id: str, reason: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)",
                (model, profile, variant_id, reason, now),
            )

    def unblock(self, model: str, profile: str, variant_id: str) -> int:
        with self._tx() as db:
            return db.execute(
                "DELETE FROM blocks WHERE model = ? AND profile = ? AND variant_id = ?",
                (model, profile, variant_id),
            ).rowcount

    def blocked(self, model: str, profile: str) -> dict[str, str]:
        rows = self._query(
            "SELECT variant_id, reason FROM blocks WHERE model = ? AND profile = ?", (model, profile)
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _window(text: str) -> WindowRecord:
    doc = json.loads(text)
    return WindowRecord(**{**doc, "flags": tuple(doc["flags"])})
