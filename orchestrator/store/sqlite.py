"""SQLite store: one file, WAL mode, schema versioned with ``PRAGMA user_version``."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from agent.errors import FailedPrecondition
from orchestrator.store.base import Family, Store
from orchestrator.variants.card import VariantCard

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
)


class SqliteStore(Store):
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise FailedPrecondition(f"{path}: cannot open the store ({exc})") from exc

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
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, tuple(args))
            return list(cur.fetchall())

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

    def close(self) -> None:
        with self._lock:
            self._db.close()
