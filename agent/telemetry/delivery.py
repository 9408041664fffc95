"""Delivering stored windows on the stream: at most ``MAX_INFLIGHT`` unacknowledged batches (flow control),
acknowledgements applied to the spool, and the orchestrator's back-pressure advice honoured.

One task sends, so batches leave in order however many windows close, acknowledgements arrive or streams
come and go; every spool call runs on the disk thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.telemetry.spool import Spool, SpoolState

__all__ = ["BATCH", "MAX_INFLIGHT", "Delivery", "Send"]

BATCH = 100
#: Unacknowledged batches on the wire at once: a reconnect with a big backlog does not flood the stream.
MAX_INFLIGHT = 4
#: Sends one batch of stored windows (serialized TelemetryWindow messages) on the current stream, with its
#: dropped-through sequence (every window up to it not in this batch or an earlier one will never be sent).
Send = Callable[[Sequence[bytes], int], None]


class Delivery:
    def __init__(
        self,
        spool: Spool,
        disk: DiskExecutor,
        publish: Callable[[SpoolState], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spool = spool
        self._disk = disk
        self._publish = publish
        self._clock = clock
        self._send: Send | None = None
        #: Bumped by every attach: a send decided for one stream never goes out on the next.
        self._epoch = 0
        #: Highest sequence sent on this stream (or acknowledged: never resent).
        self._sent = 0
        #: Last sequence of each batch sent and not yet acknowledged.
        self._inflight: list[int] = []
        self._paused_until = 0.0
        self._ack_to_apply = 0
        self._wake = asyncio.Event()
        #: Times the orchestrator asked us to back off.
        self.backpressure_events = 0

    def attach(self, send: Send) -> None:
        """A stream is up: resend everything not acknowledged yet (the orchestrator de-duplicates)."""
        self._send, self._sent, self._inflight = send, 0, []
        self._epoch += 1
        self._paused_until = 0.0
        self.wake()

    def detach(self) -> None:
        self._send = None
        self._epoch += 1

    def wake(self) -> None:
        self._wake.set()

    def ack(self, up_to: int, retry_after: float = 0.0) -> None:
        """The orchestrator stored everything up to ``up_to`` (also in answer to a Hello, before any
        batch of this stream: those windows are never resent). ``retry_after`` > 0: it was overloaded and
        took nothing more, so resend from there after that long."""
        self._inflight = [s for s in self._inflight if s > up_to]
        self._sent = max(self._sent, up_to)
        if retry_after > 0:
            pause = min(retry_after, 300.0)
            self._sent, self._inflight = up_to, []
            self._paused_until = self._clock() + pause
            self.backpressure_events += 1
            asyncio.get_running_loop().call_later(pause, self.wake)
        self._ack_to_apply = max(self._ack_to_apply, up_to)
        self.wake()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._step()

    async def _step(self) -> None:
        if self._ack_to_apply:
            up_to, self._ack_to_apply = self._ack_to_apply, 0
            self._publish(await self._disk.run(self._spool.ack, up_to))
        while self._send is not None and len(self._inflight) < MAX_INFLIGHT:
            if self._clock() < self._paused_until:
                return
            epoch, after = self._epoch, self._sent
            pending, dropped_through = await self._disk.run(self._spool.batch, after, BATCH)
            if epoch != self._epoch or after != self._sent:
                continue  # a new stream or an acknowledgement meanwhile: decide again
            if not pending or self._send is None:
                return
            self._send([payload for _, payload in pending], dropped_through)
            self._sent = pending[-1][0]
            self._inflight.append(self._sent)
