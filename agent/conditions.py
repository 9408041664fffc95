"""Conditions that degrade the device without stopping it (Kubernetes-style), reported in every Hello and
Heartbeat: e.g. ``telemetry.disk_full`` while windows are kept in memory because the disk refuses writes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TELEMETRY_DISK_FULL", "Condition", "Conditions"]

TELEMETRY_DISK_FULL = "telemetry.disk_full"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    message: str
    #: Unix time the condition began.
    since: float


class Conditions:
    """The device's current conditions; set and cleared on the event loop."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._now: dict[str, Condition] = {}

    def set(self, kind: str, message: str) -> bool:
        """Raise (or update the message of) a condition; True when it is new."""
        current = self._now.get(kind)
        self._now[kind] = Condition(kind, message, current.since if current else self._clock())
        return current is None

    def clear(self, kind: str) -> bool:
        """True when the condition was raised."""
        return self._now.pop(kind, None) is not None

    def active(self, kind: str) -> bool:
        return kind in self._now

    def current(self) -> tuple[Condition, ...]:
        return tuple(self._now[k] for k in sorted(self._now))
