"""The store interface. Callers depend on this, never on a backend."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from edgefleet.orchestrator.fleet.model import BundleRecord, DeviceRecord, EnrollmentToken, WindowRecord
from edgefleet.orchestrator.rollout.model import Event, RolloutRecord
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
        """Consume one use of a valid, unexpired token atomically; None when there is none. A token bound
        to another profile than ``profile`` is returned as it is, NOT consumed (the caller refuses it)."""

    @abc.abstractmethod
    def put_device(self, device: DeviceRecord) -> None:
        """Insert or replace the device record."""

    @abc.abstractmethod
    def get_device(self, device_id: str) -> DeviceRecord | None: ...

    @abc.abstractmethod
    def list_devices(self, profile: str = "") -> Sequence[DeviceRecord]: ...

    @abc.abstractmethod
    def put_bundle(self, bundle: BundleRecord) -> BundleRecord:
        """Record the bundle of a variant (first writer wins); returns the stored one."""

    @abc.abstractmethod
    def get_bundle(self, variant_id: str) -> BundleRecord | None: ...

    # ---- telemetry ----
    @abc.abstractmethod
    def put_windows(self, windows: Sequence[WindowRecord]) -> int:
        """Store windows, ignoring (device_id, seq) already stored; returns how many were new."""

    @abc.abstractmethod
    def last_window_seq(self, device_id: str) -> int: ...

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
    def put_rollout(self, rollout: RolloutRecord) -> None: ...

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

    @abc.abstractmethod
    def close(self) -> None: ...
