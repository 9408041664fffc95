"""What the telemetry and coordination methods of the store take and return (frozen)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HourlyWindows", "Lease", "Presence", "RejectedWindow", "StoredWindows", "VariantTotals"]


@dataclass(frozen=True, slots=True)
class RejectedWindow:
    """A window the store cannot hold (e.g. a uint64 sequence beyond SQL's 64-bit signed range)."""

    device_id: str
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class StoredWindows:
    """The outcome of one ``store_windows`` call, per window: new, already stored, or rejected alone."""

    #: (device_id, seq) stored by this call
    new: tuple[tuple[str, int], ...] = ()
    #: (device_id, seq) stored before (or at or below the device's ack watermark): ignored
    duplicates: tuple[tuple[str, int], ...] = ()
    rejected: tuple[RejectedWindow, ...] = ()
    #: (device_id, ack watermark) after the call, for the devices it was asked to acknowledge
    acked: tuple[tuple[str, int], ...] = ()

    @property
    def count(self) -> int:
        """How many windows were new (what ``put_windows`` returns)."""
        return len(self.new)


@dataclass(frozen=True, slots=True)
class VariantTotals:
    """Running totals of one (model, profile, variant) over every unflagged window ever stored.

    They only grow (pruning old windows leaves them alone): counters for Prometheus.
    """

    model: str
    profile: str
    variant_id: str
    windows: int
    inferences: int
    #: sum of gross J/inference x inferences, over the ``gross_inferences`` that had a gross figure
    gross_joules: float
    gross_inferences: int
    #: the same for the dynamic (idle-subtracted) figure, where the device had a baseline
    dynamic_joules: float
    dynamic_inferences: int
    labelled: int
    correct: int


@dataclass(frozen=True, slots=True)
class HourlyWindows:
    """Pruned windows of one device and variant in one hour (``hour``: its start, epoch seconds)."""

    device_id: str
    model: str
    profile: str
    variant_id: str
    hour: int
    windows: int
    #: windows flagged as unsound: counted here, left out of every sum
    flagged: int
    inferences: int
    gross_joules: float
    gross_inferences: int
    dynamic_joules: float
    dynamic_inferences: int
    labelled: int
    correct: int
    #: sums over the unflagged windows: divide by (windows - flagged) for the mean
    latency_p95_sum: float
    cpu_percent_sum: float
    first_start: float
    last_end: float


@dataclass(frozen=True, slots=True)
class Presence:
    """A device's stream as one replica holds it: alive as of ``last_seen``, void after ``expires``."""

    device_id: str
    replica: str
    last_seen: float
    expires: float
    #: The device's live conditions, as (type, message, since), from the replica that holds it.
    conditions: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Lease:
    """One named lease: held by ``holder`` since ``since`` until ``expires`` unless renewed."""

    name: str
    holder: str
    since: float
    expires: float
