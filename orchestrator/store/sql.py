"""The one store implementation: SQLAlchemy 2 Core over SQLite or PostgreSQL (one code path, two dialects)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa

from edgefleet.core.errors import EdgefleetError
from edgefleet.orchestrator.benchmark.model import BenchmarkJob, BenchmarkResult
from edgefleet.orchestrator.fleet.model import BundleRecord, DeviceRecord, EnrollmentToken, WindowRecord
from edgefleet.orchestrator.rollout.model import Event, RolloutRecord
from edgefleet.orchestrator.store import (
    benchmarks,
    catalog,
    coordination,
    records,
    retention,
    telemetry,
    watermarks,
    window_reads,
)
from edgefleet.orchestrator.store.base import Family, Store
from edgefleet.orchestrator.store.engine import Database, parse_store_url
from edgefleet.orchestrator.store.migrate import migrate
from edgefleet.orchestrator.store.records import DEVICE, ROLLOUT
from edgefleet.orchestrator.store.results import HourlyWindows, Lease, Presence, StoredWindows, VariantTotals
from edgefleet.orchestrator.store.tables import DEVICES, ROLLOUTS
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["SqlStore"]

log = logging.getLogger("edgefleet.store")


class SqlStore(Store):
    """``url``: ``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/DB``. Migrates to the newest schema at
    open. ``busy_timeout_s``: how long a write waits for another writer's lock before UNAVAILABLE."""

    def __init__(self, url: str, *, busy_timeout_s: float = 10.0) -> None:
        self._db = Database(parse_store_url(url), busy_timeout_s=busy_timeout_s)
        self._lineage = records.Lineage()
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise
        log.debug("store open: %s", self._db.where)

    @property
    def where(self) -> str:
        """The file, or the URL without its password."""
        return self._db.where

    @property
    def dialect(self) -> str:
        return self._db.dialect

    # ---- families and variants ----
    def put_family(self, family: Family) -> Family:
        return catalog.put_family(self._db, family)

    def get_family(self, model: str) -> Family | None:
        return catalog.get_family(self._db, model)

    def list_families(self) -> list[Family]:
        return catalog.list_families(self._db)

    def put_variants(self, cards: Sequence[VariantCard]) -> list[VariantCard]:
        return catalog.put_variants(self._db, cards)

    def get_variant(self, variant_id: str) -> VariantCard | None:
        return catalog.get_variant(self._db, variant_id)

    def find_variants(self, prefix: str) -> list[VariantCard]:
        return catalog.find_variants(self._db, prefix)

    def list_variants(self, model: str = "") -> list[VariantCard]:
        return catalog.list_variants(self._db, model)

    # ---- fleet ----
    def put_token(self, token: EnrollmentToken) -> None:
        catalog.put_token(self._db, token)

    def token_exists(self, token_hash: str) -> bool:
        return catalog.token_exists(self._db, token_hash)

    def use_token(self, token_hash: str, now: float, *, profile: str = "") -> EnrollmentToken | None:
        return catalog.use_token(self._db, token_hash, now, profile)

    def put_device(self, device: DeviceRecord) -> None:
        records.put(self._db, self._lineage, DEVICE, device)

    def update_device(self, device_id: str, fn: Callable[[DeviceRecord], DeviceRecord]) -> DeviceRecord:
        return records.update(self._db, DEVICE, device_id, fn)

    def update_devices(
        self, updates: Sequence[tuple[str, Callable[[DeviceRecord], DeviceRecord]]]
    ) -> list[DeviceRecord | EdgefleetError]:
        return records.update_many(self._db, DEVICE, updates)

    def get_device(self, device_id: str) -> DeviceRecord | None:
        return records.get(self._db, DEVICE, device_id)

    def get_devices(self, device_ids: Sequence[str]) -> dict[str, DeviceRecord]:
        return records.get_many(self._db, DEVICE, device_ids)

    def list_devices(self, profile: str = "") -> list[DeviceRecord]:
        query = sa.select(DEVICES.c.record_json, DEVICES.c.version).order_by(DEVICES.c.device_id)
        if profile:
            query = query.where(DEVICES.c.profile == profile)
        return records.list_records(self._db, DEVICE, query)

    def put_bundle(self, bundle: BundleRecord) -> BundleRecord:
        return catalog.put_bundle(self._db, bundle)

    def get_bundle(self, variant_id: str) -> BundleRecord | None:
        return catalog.get_bundle(self._db, variant_id)

    # ---- telemetry ----
    def store_windows(
        self, windows: Sequence[WindowRecord], floors: Mapping[str, int] | None = None
    ) -> StoredWindows:
        return telemetry.store_windows(self._db, windows, floors)

    def last_window_seq(self, device_id: str) -> int:
        return window_reads.last_window_seq(self._db, device_id)

    def advance_ack(self, device_id: str, floor: int = 0) -> int:
        return watermarks.advance_ack(self._db, device_id, floor)

    def acked(self, device_id: str) -> int:
        return watermarks.acked(self._db, device_id)

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
        return window_reads.windows(
            self._db,
            model=model,
            profile=profile,
            device_id=device_id,
            variant_id=variant_id,
            since=since,
            unflagged=unflagged,
            limit=limit,
            per_variant=per_variant,
        )

    def count_windows(self, device_id: str = "") -> int:
        return window_reads.count_windows(self._db, device_id)

    def variant_totals(self, model: str = "", profile: str = "") -> list[VariantTotals]:
        return window_reads.variant_totals(self._db, model, profile)

    def prune_windows(self, older_than: float) -> int:
        return retention.prune_windows(self._db, older_than)

    def hourly_windows(
        self, *, device_id: str = "", model: str = "", profile: str = "", variant_id: str = ""
    ) -> list[HourlyWindows]:
        return retention.hourly_windows(
            self._db, device_id=device_id, model=model, profile=profile, variant_id=variant_id
        )

    # ---- rollouts, events, blocks ----
    def put_rollout(self, rollout: RolloutRecord) -> None:
        records.put(self._db, self._lineage, ROLLOUT, rollout)

    def update_rollout(self, rollout_id: str, fn: Callable[[RolloutRecord], RolloutRecord]) -> RolloutRecord:
        return records.update(self._db, ROLLOUT, rollout_id, fn)

    def get_rollout(self, rollout_id: str) -> RolloutRecord | None:
        return records.get(self._db, ROLLOUT, rollout_id)

    def list_rollouts(self, model: str = "", states: Sequence[str] = ()) -> list[RolloutRecord]:
        query = sa.select(ROLLOUTS.c.record_json, ROLLOUTS.c.version).order_by(ROLLOUTS.c.rollout_id)
        if model:
            query = query.where(ROLLOUTS.c.model == model)
        if states:
            query = query.where(ROLLOUTS.c.state.in_(list(states)))
        return records.list_records(self._db, ROLLOUT, query)

    def add_event(self, event: Event) -> Event:
        return catalog.add_event(self._db, event)

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
        return catalog.list_events(
            self._db,
            kind=kind,
            rollout_id=rollout_id,
            device_id=device_id,
            model=model,
            after_id=after_id,
            limit=limit,
        )

    def event_counts(self) -> dict[tuple[str, str], int]:
        return catalog.event_counts(self._db)

    def block(self, model: str, profile: str, variant_id: str, reason: str, now: float) -> None:
        catalog.block(self._db, model, profile, variant_id, reason, now)

    def unblock(self, model: str, profile: str, variant_id: str) -> int:
        return catalog.unblock(self._db, model, profile, variant_id)

    def blocked(self, model: str, profile: str) -> dict[str, str]:
        return catalog.blocked(self._db, model, profile)

    # ---- benchmark jobs ----
    def put_benchmark_job(self, job: BenchmarkJob) -> None:
        benchmarks.put_job(self._db, job)

    def get_benchmark_job(self, job_id: str) -> BenchmarkJob | None:
        return benchmarks.get_job(self._db, job_id)

    def update_benchmark_job(self, job_id: str, fn: Callable[[BenchmarkJob], BenchmarkJob]) -> BenchmarkJob:
        return benchmarks.update_job(self._db, job_id, fn)

    def list_benchmark_jobs(
        self, model: str = "", profile: str = "", states: Sequence[str] = ()
    ) -> list[BenchmarkJob]:
        return benchmarks.list_jobs(self._db, model, profile, states)

    def put_benchmark_results(self, results: Sequence[BenchmarkResult]) -> None:
        benchmarks.put_results(self._db, results)

    def benchmark_results(
        self, *, job_id: str = "", model: str = "", profile: str = ""
    ) -> list[BenchmarkResult]:
        return benchmarks.results(self._db, job_id=job_id, model=model, profile=profile)

    # ---- replicas ----
    def touch_presence(self, entries: Sequence[Presence]) -> None:
        coordination.touch_presence(self._db, entries)

    def drop_presence(self, replica: str, device_ids: Sequence[str] = ()) -> int:
        return coordination.drop_presence(self._db, replica, device_ids)

    def presence(self, now: float, device_ids: Sequence[str] = (), replica: str = "") -> list[Presence]:
        return coordination.presence(self._db, now, device_ids, replica)

    def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        return coordination.acquire_lease(self._db, name, holder, now, ttl)

    def release_lease(self, name: str, holder: str) -> bool:
        return coordination.release_lease(self._db, name, holder)

    def leases(self, now: float, prefix: str = "") -> list[Lease]:
        return coordination.leases(self._db, now, prefix)

    def close(self) -> None:
        self._db.close()
