"""Connected agents: one outbound queue per device stream, so desired states reach them at once."""

from __future__ import annotations

import asyncio

from edgefleet.v1 import control_pb2

__all__ = ["Sessions"]

Outbound = asyncio.Queue[control_pb2.OrchestratorMessage | BaseException | None]


class Sessions:
    def __init__(self) -> None:
        self._queues: dict[str, Outbound] = {}

    def open(self, device_id: str) -> Outbound:
        """A new stream for the device; an older stream of the same device is closed."""
        old = self._queues.get(device_id)
        if old is not None:
            old.put_nowait(None)
        queue: Outbound = asyncio.Queue()
        self._queues[device_id] = queue
        return queue

    def close(self, device_id: str, queue: Outbound) -> None:
        if self._queues.get(device_id) is queue:
            del self._queues[device_id]

    def push(self, device_id: str, message: control_pb2.OrchestratorMessage) -> bool:
        queue = self._queues.get(device_id)
        if queue is None:
            return False
        queue.put_nowait(message)
        return True

    def kick(self, device_id: str, error: BaseException) -> None:
        """End the device's stream with an error (revocation)."""
        queue = self._queues.get(device_id)
        if queue is not None:
            queue.put_nowait(error)

    def connected(self) -> set[str]:
        return set(self._queues)

    def __len__(self) -> int:
        return len(self._queues)
