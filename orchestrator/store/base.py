"""The store interface. Callers depend on this, never on a backend (``open_store(url)`` picks one)."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edgefleet.core.errors import EdgefleetError
from edgefleet.orchestrator.benchmark.model import BenchmarkJob, BenchmarkResult
from edgefleet.orchestrator.fleet.model import BundleRecord, DeviceRecord, EnrollmentToken, WindowRecord
from edgefleet.orchestrator.rollout.model import Event, RolloutRecord
from edgefleet.orchestrator.store.results import HourlyWindows, Lease, Presence, StoredWindows, VariantTotals
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["Family", "Store"]


@dataclass(frozen=True, slots=True)
class Family:
    """A model family: its name, evaluation set (an artifact digest) and label names."""

    model: str
    eval_sha256: str
    labels: tuple[str, ...]
    sample_shape: tuple[int, ...]
    created: float


class Store(abc.ABC):
    @abc.abstractmethod
    def put_family(self, family: Family) -> Family:
        """Create the family, or return the stored one unchanged if it exists."""

    @abc.abstractmethod
    def get_family(self, model: str) -> Family | None: ...

    @abc.abstractmethod
    def list_families(self) -> Sequence[Family]: ...

    @abc.abstractmethod
    def put_variants(self, cards: Sequence[VariantCard]) -> list[VariantCard]:
        """Insert cards atomically (all or none); an existing variant id keeps its stored card."""

    @abc.abstractmethod
    def get_variant(self, variant_id: str) -> VariantCard | None: ...

    @abc.abstractmethod
    def find_variants(self, prefix: str) -> Sequence[VariantCard]:
        """Cards whose id starts with ``prefix``."""

    @abc.abstractmethod
    def list_variants(self, model: str = "") -> Sequence[VariantCard]: ...

    # ---- fleet ----
    @abc.abstractmethod
    def put_token(self, token: EnrollmentToken) -> None: ...

    @abc.abstractmethod
    def token_exists(self, token_hash: str) -> bool: ...

    @abc.abstractmethod
    def use_token(self, token_hash: str, now: float, *, profile: str = "") -> EnrollmentToken | None:
        """Consume one use of a valid, unexpired token atomically; None when there is none. Given a
        ``profile``, a token bound to another profile is returned as it is, NOT consumed (the caller
        refuses it: a refusal never spends a token)."""

    @abc.abstractmethod
    def put_device(self, device: DeviceRecord) -> None:
        """Insert (version 0) or replace the device record, compare-and-swap on ``device.version``:
        ABORTED when another writer changed it since it was read (nothing written)."""

    @abc.abstractmethod
    def update_device(self, device_id: str, fn: Callable[[DeviceRecord], DeviceRecord]) -> DeviceRecord:
        """Atomic read-modify-write: ``fn`` (pure) maps the current record to the new one, in one
        transaction; returns the record as stored. NOT_FOUND when there is no such device."""

    @abc.abstractmethod
    def update_devices(
        self, updates: Sequence[tuple[str, Callable[[DeviceRecord], DeviceRecord]]]
    ) -> list[DeviceRecord | EdgefleetError]:
        """``update_device`` of many in one transaction, in order (two updates of one device apply in
        turn); per update the record as stored or its error (NOT_FOUND, or what ``fn`` raised)."""

    @abc.abstractmethod
    def get_device(self, device_id: str) -> DeviceRecord | None: ...

    @abc.abstractmethod
    def get_devices(self, device_ids: Sequence[str]) -> dict[str, DeviceRecord]:
        """The stored records of those devices, by id (unknown ids left out), in a few queries."""

    @abc.abstractmethod
    def list_devices(self, profile: str = "") -> Sequence[DeviceRecord]: ...

    @abc.abstractmethod
    def put_bundle(self, bundle: BundleRecord) -> BundleRecord:
        """Record the bundle of a variant (first writer wins); returns the stored one."""

    @abc.abstractmethod
    def get_bundle(self, variant_id: str) -> BundleRecord | None: ...

    # ---- telemetry ----
    def put_windows(self, windows: Sequence[WindowRecord]) -> int:
        """Store windows, ignoring (device_id, seq) already stored; returns how many were new.
        A window the store cannot hold is rejected alone (``store_windows`` says which and why)."""
        return self.store_windows(windows).count

    @abc.abstractmethod
    def store_windows(
        self, windows: Sequence[WindowRecord], floors: Mapping[str, int] | None = None
    ) -> StoredWindows:
        """Store windows exactly once per (device_id, seq); a window at or below its device's ack watermark
        is a duplicate. One window that cannot be stored never fails the others: it is rejected alone with
        the reason. Running totals grow in the same transaction as the new, unflagged windows.
        With ``floors`` (device id -> floor), then ``advance_ack(device, floor)`` of each of those devices
        in the same transaction; the watermarks are in ``acked``."""

    @abc.abstractmethod
    def last_window_seq(self, device_id: str) -> int:
        """The highest sequence stored or acknowledged (not a contiguous one: acknowledge with ``acked``)."""

    @abc.abstractmethod
    def advance_ack(self, device_id: str, floor: int = 0) -> int:
        """Move the device's ack watermark to max(watermark, floor) (``floor``: the agent's "dropped
        through" sequence, windows it will never send), then over every consecutive stored sequence;
        returns it. It never moves back."""

    @abc.abstractmethod
    def acked(self, device_id: str) -> int:
        """The device's ack watermark: every window up to it is stored, pruned, or given up by the agent."""

    @abc.abstractmethod
    def variant_totals(self, model: str = "", profile: str = "") -> Sequence[VariantTotals]:
        """Cumulative totals per (model, profile, variant): they only ever grow."""

    @abc.abstractmethod
    def prune_windows(self, older_than: float) -> int:
        """Fold acknowledged windows that ended before ``older_than`` into hourly aggregates and delete them
        (in batches, each in its own transaction); totals are unaffected. Returns how many were pruned."""

    @abc.abstractmethod
    def hourly_windows(
        self, *, device_id: str = "", model: str = "", profile: str = "", variant_id: str = ""
    ) -> Sequence[HourlyWindows]:
        """The aggregates of pruned windows, oldest hour first."""

    @abc.abstractmethod
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
    ) -> Sequence[WindowRecord]:
        """Newest first; ``since`` keeps windows that ended at or after it; ``per_variant`` keeps only the
        newest that many of each (profile, variant)."""

    @abc.abstractmethod
    def count_windows(self, device_id: str = "") -> int: ...

    # ---- rollouts, events, blocks ----
    @abc.abstractmethod
    def put_rollout(self, rollout: RolloutRecord) -> None:
        """Insert (version 0) or replace, compare-and-swap on ``rollout.version`` (ABORTED on a conflict)."""

    @abc.abstractmethod
    def update_rollout(self, rollout_id: str, fn: Callable[[RolloutRecord], RolloutRecord]) -> RolloutRecord:
        """Atomic read-modify-write of the rollout (see ``update_device``)."""

    @abc.abstractmethod
    def get_rollout(self, rollout_id: str) -> RolloutRecord | None: ...

    @abc.abstractmethod
    def list_rollouts(self, model: str = "", states: Sequence[str] = ()) -> Sequence[RolloutRecord]: ...

    @abc.abstractmethod
    def add_event(self, event: Event) -> Event: ...

    @abc.abstractmethod
    def list_events(
        self,
        *,
        kind: str = "",
        rollout_id: str = "",
        device_id: str = "",
        model: str = "",
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[Event]: ...

    @abc.abstractmethod
    def event_counts(self) -> dict[tuple[str, str], int]:
        """Events counted by (kind, rule)."""

    @abc.abstractmethod
    def block(self, model: str, profile: str, variant_id: str, reason: str, now: float) -> None: ...

    @abc.abstractmethod
    def unblock(self, model: str, profile: str, variant_id: str) -> int: ...

    @abc.abstractmethod
    def blocked(self, model: str, profile: str) -> dict[str, str]: ...

    # ---- benchmark jobs ----
    @abc.abstractmethod
    def put_benchmark_job(self, job: BenchmarkJob) -> None:
        """Insert or replace the job."""

    @abc.abstractmethod
    def get_benchmark_job(self, job_id: str) -> BenchmarkJob | None: ...

    @abc.abstractmethod
    def update_benchmark_job(self, job_id: str, fn: Callable[[BenchmarkJob], BenchmarkJob]) -> BenchmarkJob:
        """Read-modify-write in one transaction; NotFound without the job."""

    @abc.abstractmethod
    def list_benchmark_jobs(
        self, model: str = "", profile: str = "", states: Sequence[str] = ()
    ) -> Sequence[BenchmarkJob]:
        """Oldest first."""

    @abc.abstractmethod
    def put_benchmark_results(self, results: Sequence[BenchmarkResult]) -> None:
        """Upsert by (job, device, variant)."""

    @abc.abstractmethod
    def benchmark_results(
        self, *, job_id: str = "", model: str = "", profile: str = ""
    ) -> Sequence[BenchmarkResult]:
        """Oldest report first."""

    # ---- replicas: presence and leases (soft state that expires) ----
    @abc.abstractmethod
    def touch_presence(self, entries: Sequence[Presence]) -> None:
        """Record that these replicas hold these devices' streams, in one transaction. A device's row goes
        to the newest ``last_seen``: an older view (another replica's late flush) never takes it back."""

    @abc.abstractmethod
    def drop_presence(self, replica: str, device_ids: Sequence[str] = ()) -> int:
        """Streams on ``replica`` ended: delete its rows of ``device_ids`` (all its rows when empty); a row
        another replica holds now stays. Returns how many were deleted."""

    @abc.abstractmethod
    def presence(self, now: float, device_ids: Sequence[str] = (), replica: str = "") -> Sequence[Presence]:
        """Rows not expired at ``now``, of ``device_ids`` (all when empty) and ``replica`` (any when "")."""

    @abc.abstractmethod
    def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take the lease ``name`` if it is free or expired, or renew it if ``holder`` has it; True when
        ``holder`` has it until ``now + ttl``. Of concurrent callers exactly one gets a free lease."""

    @abc.abstractmethod
    def release_lease(self, name: str, holder: str) -> bool:
        """Free the lease if ``holder`` has it (another may take it at once)."""

    @abc.abstractmethod
    def leases(self, now: float, prefix: str = "") -> Sequence[Lease]:
        """Leases held at ``now`` whose name starts with ``prefix``."""

    @abc.abstractmethod
    def close(self) -> None: ...
