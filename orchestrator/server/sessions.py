"""Connected agents: one outbound queue per device stream, so desired states reach them at once.

One live stream per device. A second stream for a device whose stream is still alive (it spoke within
``stale_after`` seconds) is refused: two processes holding one identity (a cloned device) would otherwise
keep closing each other's stream, a reconnect storm. A stream that has gone quiet for longer is taken over
by the newcomer (the old one is presumably dead: a cut link the server has not noticed yet).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefleet.core.errors import AlreadyExists
from edgefleet.v1 import control_pb2

__all__ = ["Outbound", "Sessions"]

Outbound = asyncio.Queue[control_pb2.OrchestratorMessage | BaseException | None]


@dataclass
class _Session:
    queue: Outbound
    peer: str
    opened: float
    active: float = field(default=0.0)


class Sessions:
    def __init__(self, *, stale_after: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._sessions: dict[str, _Session] = {}
        self._stale_after = stale_after
        self._clock = clock
        #: Streams refused because the device already had a live one.
        self.duplicates_refused = 0

    def open(self, device_id: str, peer: str = "") -> Outbound:
        """A new stream for the device; a quiet older stream of it is closed, a live one refuses this."""
        now = self._clock()
        old = self._sessions.get(device_id)
        if old is not None:
            quiet = now - old.active
            if quiet < self._stale_after:
                self.duplicates_refused += 1
                raise AlreadyExists(
                    f"device {device_id} already has a live stream (from {old.peer or 'unknown'}, active "
                    f"{quiet:.0f} s ago); a second process seems to hold this identity: stop one of them, or "
                    f"revoke and re-enrol the clone"
                )
            old.queue.put_nowait(None)
        queue: Outbound = asyncio.Queue()
        self._sessions[device_id] = _Session(queue, peer, now, now)
        return queue

    def touch(self, device_id: str, queue: Outbound) -> None:
        """The stream spoke: it is alive."""
        session = self._sessions.get(device_id)
        if session is not None and session.queue is queue:
            session.active = self._clock()

    def close(self, device_id: str, queue: Outbound) -> bool:
        """Forget the stream; False when it was not the device's current one here (a newer one is)."""
        session = self._sessions.get(device_id)
        if session is not None and session.queue is queue:
            del self._sessions[device_id]
            return True
        return False

    def end(self, device_id: str) -> None:
        """Close the device's stream here normally (it moved to another replica)."""
        session = self._sessions.pop(device_id, None)
        if session is not None:
            session.queue.put_nowait(None)

    def push(self, device_id: str, message: control_pb2.OrchestratorMessage) -> bool:
        session = self._sessions.get(device_id)
        if session is None:
            return False
        session.queue.put_nowait(message)
        return True

    def kick(self, device_id: str, error: BaseException) -> None:
        """End the device's stream with an error (revocation)."""
        session = self._sessions.get(device_id)
        if session is not None:
            session.queue.put_nowait(error)

    def end_all(self, error: BaseException) -> None:
        """End every stream with ``error`` (shutdown: the agents reconnect to this server's successor)."""
        for session in self._sessions.values():
            session.queue.put_nowait(error)

    def connected(self) -> set[str]:
        return set(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)
