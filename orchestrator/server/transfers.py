"""A bound on the artifact bytes the orchestrator holds for agents at once (FetchArtifact).

Each chunk of a FetchArtifact stream is read, wrapped in a message and handed to gRPC, which keeps it until
the device has taken it in (HTTP/2 flow control). A deploy to N devices that all download at once therefore
held N chunks (several copies of each on the way) until the slowest device read its own. Here a chunk is
read and sent only while it holds one of ``slots`` slots, so at most ``slots`` chunks are in flight whatever
the fleet's size; the other transfers wait (holding nothing but their place in line) and go in turn. A
device that stops reading gives its slot back after ``send_timeout`` seconds: its transfer ends with
UNAVAILABLE and the agent resumes from the offset it has (FetchArtifact takes one), so a few stuck devices
cannot stall everyone else's downloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from edgefleet.core.errors import Unavailable
from edgefleet.orchestrator.metrics import OrchestratorMetrics

if TYPE_CHECKING:
    from prometheus_client import Counter

__all__ = ["TransferSlots"]

T = TypeVar("T")


class TransferSlots:
    """``slots``: ``ServerConfig.artifact_transfer_slots`` (default 64: at the default 256 KiB chunk, 16 MiB
    of artifact data held however many devices download)."""

    def __init__(
        self, slots: int, *, send_timeout: float = 60.0, metrics: OrchestratorMetrics | None = None
    ) -> None:
        self.slots = slots
        self.send_timeout = send_timeout
        self._free = asyncio.Semaphore(slots)
        #: Chunks being sent now.
        self.sending = 0
        self._waited: Counter | None = None
        self._timed_out: Counter | None = None
        if metrics is not None:
            self._waited, self._timed_out = metrics.artifact_chunks_waited, metrics.artifact_sends_timed_out
            metrics.artifact_chunks_sending.set_function(lambda: self.sending)

    async def send(self, write: Callable[[], Awaitable[T]], what: str) -> T:
        """``write()`` one chunk while holding a slot; Unavailable (the agent resumes from its offset) when
        the device has not taken it in ``send_timeout`` seconds. The slot is free again either way."""
        if self._free.locked() and self._waited is not None:
            self._waited.inc()
        async with self._free:
            self.sending += 1
            try:
                async with asyncio.timeout(self.send_timeout):
                    return await write()
            except TimeoutError:
                if self._timed_out is not None:
                    self._timed_out.inc()
                message = f"{what}: the device took no chunk in {self.send_timeout:g} s; it resumes later"
                raise Unavailable(message) from None
            finally:
                self.sending -= 1
