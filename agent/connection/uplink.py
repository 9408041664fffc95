"""The agent's way to the orchestrator for deployment statuses, telemetry and benchmark reports: the current
stream's send queue, or, while there is no stream, a short backlog of statuses delivered right after the
next Hello (so an outcome reached offline, like a trial rolled back at start, still reaches the
orchestrator). Benchmark reports made offline are not kept here: final ones are stored and resent on every
new stream by the jobs themselves, progress is stale by then."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from edgefleet.agent.connection.messages import DeploymentReport
from edgefleet.agent.connection.wire import status_message, telemetry_message
from edgefleet.agent.connection.wire_benchmark import benchmark_report_message
from edgefleet.agent.workload.benchmark.model import BenchmarkReport
from edgefleet.core.enums import DeploymentPhase
from edgefleet.v1 import control_pb2

__all__ = ["Outgoing", "Uplink"]

#: A stream's send queue (None ends the request stream).
Outgoing = asyncio.Queue[control_pb2.AgentMessage | None]
_BACKLOG = 16


class Uplink:
    def __init__(self) -> None:
        self._queue: Outgoing | None = None
        self._backlog: deque[DeploymentReport] = deque(maxlen=_BACKLOG)

    def attach(self, queue: Outgoing) -> None:
        """A stream is up (its Hello already queued): statuses made meanwhile go first."""
        self._queue = queue
        while self._backlog:
            queue.put_nowait(status_message(self._backlog.popleft()))

    def detach(self) -> None:
        self._queue = None

    def status(self, report: DeploymentReport) -> None:
        if self._queue is not None:
            self._queue.put_nowait(status_message(report))
        elif report.phase != DeploymentPhase.DOWNLOADING:  # progress is stale by the next stream
            self._backlog.append(report)

    def telemetry(self, payloads: Sequence[bytes], dropped_through: int = 0) -> None:
        if self._queue is not None:
            self._queue.put_nowait(telemetry_message(payloads, dropped_through))

    def benchmark(self, report: BenchmarkReport) -> None:
        if self._queue is not None:
            self._queue.put_nowait(benchmark_report_message(report))
