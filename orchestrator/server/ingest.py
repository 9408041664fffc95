"""Telemetry ingestion off the event loop, bounded, with back-pressure.

Streams hand telemetry batches to one bounded queue; a single worker takes whatever is queued (up to
``GROUP`` batches), stores them in one call on a worker thread (SQLite commits never block the event
loop), then acknowledges each device on its stream. When the queue is full the batch is not taken:
the device gets an acknowledgement of what is stored with ``retry_after_seconds`` (RESOURCE_EXHAUSTED
advice, the stream stays up), and its outbox keeps the windows. A device that keeps pushing while told
to back off has its stream ended with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgefleet.core.errors import ResourceExhausted
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.server.sessions import Outbound
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.wire.fleet import window_from_pb
from edgefleet.v1 import common_pb2, control_pb2

__all__ = ["TelemetryIngest"]

log = logging.getLogger("edgefleet.server")
GROUP = 256
#: Batches refused in a row before a device that ignores the advice loses its stream.
MAX_IGNORED = 20


@dataclass(frozen=True, slots=True)
class _Batch:
    device_id: str
    profile: str
    #: As received: decoded on the storing thread, not on the event loop.
    windows: Sequence[common_pb2.TelemetryWindow]
    reply: Outbound
    #: The agent dropped (never to be sent) every window through this sequence not sent before.
    dropped_through: int = 0


class TelemetryIngest:
    def __init__(
        self,
        telemetry: TelemetryService,
        *,
        max_pending: int = 1024,
        metrics: OrchestratorMetrics | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._telemetry = telemetry
        self._metrics = metrics
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=max_pending)
        self._acked: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._rng = rng
        self._worker: asyncio.Task[None] | None = None
        self.refused_total = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    def offer(
        self,
        device_id: str,
        profile: str,
        windows: Sequence[common_pb2.TelemetryWindow],
        reply: Outbound,
        dropped_through: int = 0,
    ) -> None:
        """Queue a batch for storage, or answer at once with back-pressure advice."""
        try:
            self._queue.put_nowait(_Batch(device_id, profile, windows, reply, dropped_through))
            self._refused.pop(device_id, None)
        except asyncio.QueueFull:
            ignored = self._refused.get(device_id, 0) + 1
            self._refused[device_id] = ignored
            self.refused_total += 1
            if self._metrics is not None:
                self._metrics.telemetry_backpressure.inc()
            retry = self.retry_after()
            if ignored > MAX_IGNORED:
                raise ResourceExhausted(
                    f"telemetry back-pressure: {ignored} batches refused in a row; reconnect and retry "
                    f"in {retry:.1f} s"
                ) from None
            self._advise(device_id, reply, retry)

    def _advise(self, device_id: str, reply: Outbound, retry: float = 0.0) -> None:
        ack = control_pb2.TelemetryAck(
            up_to_sequence=self._acked.get(device_id, 0), retry_after_seconds=retry or self.retry_after()
        )
        reply.put_nowait(control_pb2.OrchestratorMessage(telemetry_ack=ack))

    def retry_after(self) -> float:
        """Seconds to wait: grows with the backlog, with jitter so a fleet does not return in step."""
        fill = self._queue.qsize() / max(1, self._queue.maxsize)
        return round((1.0 + 4.0 * fill) * (0.5 + self._rng()), 2)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                acks = await asyncio.to_thread(self._store, group)
            except Exception:
                log.exception("storing %d telemetry batches failed; the devices will resend them", len(group))
                for batch in group:  # not stored: the outboxes keep them; ask for a resend later
                    self._advise(batch.device_id, batch.reply)
                continue
            for batch, up_to in acks:
                self._acked[batch.device_id] = up_to
                ack = control_pb2.TelemetryAck(up_to_sequence=up_to)
                batch.reply.put_nowait(control_pb2.OrchestratorMessage(telemetry_ack=ack))

    def _store(self, group: Sequence[_Batch]) -> list[tuple[_Batch, int]]:
        """On a worker thread: decode the group's windows, then one ingest call (one transaction) stores
        them (a window the store cannot hold is rejected alone) and advances each device's contiguous
        stored prefix: the acknowledgement, sent once that transaction is committed."""
        records = [window_from_pb(b.device_id, b.profile, w) for b in group for w in b.windows]
        floors: dict[str, int] = {}
        for b in group:
            floors[b.device_id] = max(floors.get(b.device_id, 0), b.dropped_through)
        result = self._telemetry.ingest(records, floors)
        for bad in result.rejected:
            log.warning("telemetry window %s/%d rejected: %s", bad.device_id, bad.seq, bad.reason)
        if self._metrics is not None:
            self._metrics.windows_ingested.inc(result.new)
            self._metrics.windows_rejected.inc(result.flagged + result.repeated + len(result.rejected))
        return [(b, result.acked[b.device_id]) for b in group]
