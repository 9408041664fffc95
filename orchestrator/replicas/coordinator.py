"""One replica among several on one store: its liveness, its leases and the presence of its devices.

* Liveness: the lease ``replica/<id>``, renewed every third of ``lease_seconds``; a replica that stops
  renewing it (killed, cut off) is dead for the others once it expires.
* Leases: ``rollout/<id>`` (one replica advances each rollout), ``fleet/gauges`` (one replica exports the
  fleet-wide gauges), ``telemetry/retention`` (one replica prunes).
* Presence: which replica holds each device's stream, as of when; flushed with the liveness renewal, and
  at once when a stream opens (a claim) or closes.

A device's stream opening here while another replica holds it is refused when that replica is alive and
the device spoke there within ``stale_after`` (two processes with one identity, as on one replica); it is
taken over otherwise (its holder died, or its stream there went quiet), and the old holder is told.

Every method here does database I/O: call them on a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from edgefleet.core.errors import AlreadyExists
from edgefleet.orchestrator.store.base import Store
from edgefleet.orchestrator.store.results import Presence

__all__ = ["FLEET_GAUGES", "RETENTION", "Replica", "default_replica_id"]

log = logging.getLogger("edgefleet.replicas")

#: The lease whose holder exports the fleet-wide gauges.
FLEET_GAUGES = "fleet/gauges"
#: The lease whose holder prunes old telemetry.
RETENTION = "telemetry/retention"
_ALIVE = "replica/"
#: A device's conditions: (type, message, since).
Conditions = tuple[tuple[str, str, float], ...]


def default_replica_id() -> str:
    """Host name and process id: unique on a network, readable in logs."""
    host = "".join(ch for ch in socket.gethostname() if ch.isalnum() or ch in "-_.")[:40] or "host"
    return f"{host}-{os.getpid()}"


class Replica:
    def __init__(
        self,
        store: Store,
        replica_id: str,
        *,
        lease_seconds: float,
        stale_after: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.id = replica_id
        self.lease_seconds = lease_seconds
        self.stale_after = stale_after
        self._clock = clock
        self._lock = threading.Lock()
        #: Leases this replica held at its last attempt (name -> when it runs out).
        self._held: dict[str, float] = {}

    # ---- leases ----
    def lease(self, name: str) -> bool:
        """Take or renew ``name``; True while this replica has it."""
        now = self._clock()
        got = self.store.acquire_lease(name, self.id, now, self.lease_seconds)
        with self._lock:
            was = name in self._held
            if got:
                self._held[name] = now + self.lease_seconds
            else:
                self._held.pop(name, None)
        if got != was:
            log.info("replica %s %s lease %s", self.id, "took" if got else "does not hold", name)
        return got

    def holds(self, name: str) -> bool:
        """Whether this replica had ``name`` at its last renewal and it has not run out (no I/O)."""
        with self._lock:
            until = self._held.get(name, 0.0)
        return until > self._clock()

    def release_all(self) -> None:
        """Stopping: give every lease back so another replica takes over at once."""
        with self._lock:
            names = list(self._held)
            self._held.clear()
        for name in names:
            self.store.release_lease(name, self.id)
        self.store.release_lease(_ALIVE + self.id, self.id)

    def alive(self) -> set[str]:
        """Replicas whose liveness lease runs (this one included)."""
        return {x.holder for x in self.store.leases(self._clock(), _ALIVE)} | {self.id}

    def beat(self, seen: Mapping[str, tuple[float, Conditions]]) -> None:
        """Renew the liveness lease and flush the presence of the devices held here (``seen``: device ->
        (last seen, conditions))."""
        now = self._clock()
        self.store.acquire_lease(_ALIVE + self.id, self.id, now, self.lease_seconds)
        expires = now + self.lease_seconds
        self.store.touch_presence(
            [Presence(d, self.id, when, expires, conds) for d, (when, conds) in sorted(seen.items())]
        )

    # ---- presence ----
    def claim(self, device_id: str, conditions: Conditions = ()) -> str:
        """This replica now holds the device's stream. Returns the replica it was taken from ("" for none);
        ALREADY_EXISTS when a live replica holds a live stream of it."""
        now = self._clock()
        taken_from = ""
        for held in self.store.presence(now, [device_id]):
            if held.replica == self.id:
                continue
            quiet = now - held.last_seen
            if quiet < self.stale_after and held.replica in self.alive():
                raise AlreadyExists(
                    f"device {device_id} already has a live stream on replica {held.replica} (active "
                    f"{max(quiet, 0.0):.0f} s ago); a second process seems to hold this identity: stop one "
                    "of them, or revoke and re-enrol the clone"
                )
            taken_from = held.replica
        self.store.touch_presence([Presence(device_id, self.id, now, now + self.lease_seconds, conditions)])
        return taken_from

    def release(self, device_ids: Sequence[str]) -> None:
        """These streams ended here."""
        if device_ids:
            self.store.drop_presence(self.id, device_ids)

    def drop_all(self) -> None:
        """Stopping: no stream is held here any more."""
        self.store.drop_presence(self.id)

    def online(self, device_ids: Sequence[str] = ()) -> dict[str, Presence]:
        """Devices whose stream a live replica holds now (all of them when ``device_ids`` is empty)."""
        rows = self.store.presence(self._clock(), device_ids)
        if not rows:
            return {}
        alive = self.alive()
        return {p.device_id: p for p in rows if p.replica in alive}
