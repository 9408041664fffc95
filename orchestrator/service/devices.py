"""Devices as they report themselves: Hello, heartbeats, deployment status, and the queries over them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from edgefleet.core.enums import DeploymentPhase, FaultDomain
from edgefleet.core.errors import EdgefleetError, InvalidArgument, NotFound, PermissionDenied
from edgefleet.orchestrator.fleet.model import Condition, DeviceRecord, Report, SlotReport
from edgefleet.orchestrator.service.names import check_labels
from edgefleet.orchestrator.store.base import Store

__all__ = ["DeviceService", "StatusReport"]


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One deployment step a device reported (a DeploymentStatus, as a domain object)."""

    generation: int
    phase: DeploymentPhase
    reason: str = ""
    done: int = 0
    total: int = 0
    #: What serves after this step: (variant id, recipe); None when nothing does.
    active: tuple[str, str] | None = None
    #: The runtime serving it: (name, version).
    runtime: tuple[str, str] | None = None
    #: With a failure: whose fault it was.
    fault: FaultDomain = FaultDomain.UNKNOWN
    #: Both slots after this step; None when the agent did not send them (its Hello's stay).
    slots: tuple[SlotReport, ...] | None = None

    @property
    def settles(self) -> bool:
        """The agent is done with this generation (it records it as applied): committed, or failed or
        rolled back for good (a device fault is retried, so not yet)."""
        if self.phase == DeploymentPhase.COMMITTED:
            return True
        final = self.phase in (DeploymentPhase.FAILED, DeploymentPhase.ROLLED_BACK)
        return final and self.fault != FaultDomain.DEVICE


class DeviceService:
    def __init__(self, *, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        #: Heartbeats only touch memory; reads merge it with the stored record.
        self._last_seen: dict[str, float] = {}
        #: Live conditions per device: the agent's (replaced by each Hello and heartbeat) and the server's.
        self._reported: dict[str, tuple[Condition, ...]] = {}
        self._noted: dict[str, dict[str, Condition]] = {}

    # ---- reports ----
    def hello(self, device_id: str, profile: str, report: Report) -> DeviceRecord:
        device = self.get(device_id)
        if profile != device.profile:
            raise PermissionDenied(f"device {device_id} enrolled as {device.profile!r}, not {profile!r}")
        now = self._clock()
        report = replace(report, slots_reported=now)
        return self._fresh(
            self._store.update_device(device_id, lambda d: replace(d, report=report, last_seen=now))
        )

    def seen(self, device_id: str, conditions: Sequence[Condition] | None = None) -> None:
        """A heartbeat (or Hello): the device is alive; ``conditions`` replace what it reported before."""
        self._last_seen[device_id] = self._clock()
        if conditions is not None:
            self._reported[device_id] = tuple(conditions)

    def note(self, device_id: str, type_: str, message: str) -> None:
        """A condition the server saw itself (e.g. a second process using this identity)."""
        self._noted.setdefault(device_id, {})[type_] = Condition(type_, message[:500], self._clock())

    def record_status(self, device_id: str, status: StatusReport) -> DeviceRecord:
        """One deployment step. A status for an older generation only updates what serves."""
        [stored] = self.record_statuses([(device_id, status)])
        if isinstance(stored, EdgefleetError):
            raise stored
        return stored

    def record_statuses(
        self, statuses: Sequence[tuple[str, StatusReport]]
    ) -> list[DeviceRecord | EdgefleetError]:
        """Deployment steps of many devices in one transaction (the streams' statuses, grouped), in
        order; per status the device as stored or the error that refused it alone."""
        now = self._clock()
        updates: list[tuple[str, Callable[[DeviceRecord], DeviceRecord]]] = []
        for device_id, status in statuses:
            updates.append((device_id, _status_step(status, now)))
        return [
            self._fresh(r) if isinstance(r, DeviceRecord) else r for r in self._store.update_devices(updates)
        ]

    def label(self, device_id: str, set_: Mapping[str, str], remove: Sequence[str]) -> DeviceRecord:
        """Set and remove labels; the result must follow the label rules as a whole."""

        def step(device: DeviceRecord) -> DeviceRecord:
            labels = {k: v for k, v in device.labels.items() if k not in set(remove)}
            labels.update(set_)
            return replace(device, labels=check_labels(labels))

        self.get(device_id)  # NOT_FOUND names the device
        return self._fresh(self._store.update_device(device_id, step))

    def live(self, device_id: str) -> tuple[float, tuple[Condition, ...]]:
        """What this process saw of the device itself: when it last spoke (0: never) and its live
        conditions (for the presence other replicas read)."""
        conditions = (
            *self._reported.get(device_id, ()),
            *self._noted.get(device_id, {}).values(),
        )
        return self._last_seen.get(device_id, 0.0), conditions

    # ---- queries ----
    def _fresh(self, device: DeviceRecord) -> DeviceRecord:
        seen = max(self._last_seen.get(device.device_id, 0.0), device.last_seen)
        conditions = (
            *self._reported.get(device.device_id, ()),
            *self._noted.get(device.device_id, {}).values(),
        )
        return replace(device, last_seen=seen, conditions=conditions)

    def get(self, device_id: str) -> DeviceRecord:
        device = self._store.get_device(device_id)
        if device is None:
            raise NotFound(f"no device {device_id[:80]!r}")
        return self._fresh(device)

    def get_many(self, device_ids: Sequence[str]) -> dict[str, DeviceRecord]:
        """Those devices by id, read in a few queries (NOT_FOUND names the first unknown one)."""
        found = self._store.get_devices(device_ids)
        if missing := [d for d in device_ids if d not in found]:
            raise NotFound(f"no device {missing[0][:80]!r}")
        return {device_id: self._fresh(device) for device_id, device in found.items()}

    def list_devices(self, profile: str = "") -> list[DeviceRecord]:
        return [self._fresh(d) for d in self._store.list_devices(profile)]


def _status_step(status: StatusReport, now: float) -> Callable[[DeviceRecord], DeviceRecord]:
    """The device record after ``status`` (pure; an unknown phase is refused when it runs)."""

    def step(device: DeviceRecord) -> DeviceRecord:
        if status.phase not in DeploymentPhase.__members__.values():
            raise InvalidArgument(f"unknown deployment phase {status.phase!r}")
        report = device.report
        now_active = status.active or ("", "")
        if report is not None and now_active[0] != report.active_variant:
            report = replace(
                report,
                previous_variant=report.active_variant,
                active_variant=now_active[0],
                active_recipe=now_active[1],
            )
        if report is not None and status.runtime is not None and status.runtime[0]:
            report = replace(
                report, runtime_name=status.runtime[0][:64], runtime_version=status.runtime[1][:64]
            )
        if report is not None and status.slots is not None:
            report = replace(report, slots=status.slots, slots_reported=now)
        if report is not None and status.settles and status.generation > report.applied_generation:
            report = replace(report, applied_generation=status.generation)
        if device.desired is not None and status.generation != device.desired.generation:
            return replace(device, report=report)  # an older deployment's report still says what serves
        return replace(
            device,
            report=report,
            phase=str(status.phase),
            phase_reason=status.reason[:1000],
            phase_fault=str(status.fault),
            bytes_done=status.done,
            bytes_total=status.total,
            last_seen=now,
        )

    return step
