"""Benchmark jobs on this device: one runs at a time (later ones wait their turn, in order of receipt), each
is answered with RUNNING progress and one final report (DONE, FAILED or CANCELLED), which is kept and sent
again on every new stream for 24 hours. Level-triggered like the desired state: a job received again while
it runs or waits changes nothing but the report it gets; received again after it finished, it is answered
with the stored report and never run twice. An empty candidate list cancels the job of that id (running,
waiting, or not seen yet). Scratch files go when the job ends, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.workload.benchmark.model import BenchmarkJob, BenchmarkReport, BenchmarkState
from edgefleet.agent.workload.benchmark.runner import JobRunner
from edgefleet.agent.workload.benchmark.store import ReportStore

__all__ = ["BenchmarkJobs"]

log = logging.getLogger("edgefleet.agent.workload.benchmark")
State = BenchmarkState


@dataclass(frozen=True, slots=True)
class _Received:
    job: BenchmarkJob
    #: When it arrived: on the runner's clock (its deadline counts from here) and on the wall clock.
    at: float
    wall: float


class BenchmarkJobs:
    def __init__(
        self,
        runner: JobRunner,
        store: ReportStore,
        disk: DiskExecutor,
        send: Callable[[BenchmarkReport], None],
        *,
        scratch: Path,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.runner, self._store, self._disk, self._send = runner, store, disk, send
        self._scratch = scratch
        self._clock, self._wall = clock, wall
        self._waiting: deque[_Received] = deque()
        self._running: tuple[_Received, asyncio.Task[BenchmarkReport]] | None = None
        self._progress: BenchmarkReport | None = None
        self._wake = asyncio.Event()
        self._writes: set[asyncio.Task[None]] = set()
        #: Jobs run to their end here (any final state), for tests and logs.
        self.finished = 0

    async def start(self) -> None:
        """Disk thread: the stored reports, and no scratch left from a job cut short by a stop."""
        await self._disk.run(self._store.load)
        await self._disk.run(shutil.rmtree, self._scratch, True)

    # ---- from the stream ----
    def offer(self, job: BenchmarkJob) -> None:
        stored = self._store.get(job.job_id)
        if stored is not None:
            self._send(stored)  # finished here already: never run twice
            return
        running = self._running
        if job.cancels:
            self._cancel(job)
        elif running is not None and running[0].job.job_id == job.job_id:
            if self._progress is not None:
                self._send(self._progress)
        elif any(w.job.job_id == job.job_id for w in self._waiting):
            self._send(self._queued(job))
        elif job.problem:
            self._final(self._received(job), self._report(job, State.FAILED, job.problem))
        else:
            self._waiting.append(self._received(job))
            self._send(self._queued(job))
            self._wake.set()

    def resend(self) -> None:
        """A new stream: every final report of the last 24 h, then where the open jobs are."""
        for report in self._store.recent():
            self._send(report)
        if self._running is not None and self._progress is not None:
            self._send(self._progress)
        for waiting in self._waiting:
            self._send(self._queued(waiting.job))

    def _cancel(self, job: BenchmarkJob) -> None:
        running = self._running
        if running is not None and running[0].job.job_id == job.job_id:
            running[1].cancel()  # the worker reports it
            return
        match = [w for w in self._waiting if w.job.job_id == job.job_id]
        for w in match:
            self._waiting.remove(w)
        received = match[0] if match else self._received(job)
        withdrawn = self._report(received.job, State.CANCELLED, "withdrawn by the orchestrator before it ran")
        self._final(received, withdrawn)

    # ---- the worker ----
    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                await self._run_one(self._waiting.popleft())

    async def _run_one(self, received: _Received) -> None:
        job = received.job
        self._progress = None
        task = asyncio.create_task(self.runner.run(job, received.at, self._publish))
        self._running = (received, task)
        log.info("benchmark job %s: %d candidate(s)", job.job_id, len(job.candidates))
        try:
            report = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the agent stops: the orchestrator sends the job again after the restart
            progress = self._progress or self._report(job, State.RUNNING)
            report = replace(progress, state=State.CANCELLED, reason="cancelled by the orchestrator")
        except Exception as exc:  # a bug: report it rather than leave the job open forever
            log.exception("benchmark job %s failed", job.job_id)
            report = self._report(job, State.FAILED, f"agent error: {type(exc).__name__}: {exc}")
        finally:
            self._running = None
            await self._disk.run(shutil.rmtree, self._scratch, True)
        self._final(received, report)
        log.info("benchmark job %s: %s %s", job.job_id, report.state.value, report.reason)

    def _publish(self, report: BenchmarkReport) -> None:
        self._progress = report
        self._send(report)

    def _final(self, received: _Received, report: BenchmarkReport) -> None:
        """Keep (memory now, file on the disk thread), then send."""
        data = self._store.remember(received.wall, report)
        write = asyncio.create_task(self._disk.run(self._store.write, data))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        self.finished += 1
        self._send(report)

    async def flush(self) -> None:
        """Wait for the report files being written (tests, shutdown)."""
        await asyncio.gather(*self._writes)

    # ---- small helpers ----
    def _received(self, job: BenchmarkJob) -> _Received:
        return _Received(job, self._clock(), self._wall())

    def _queued(self, job: BenchmarkJob) -> BenchmarkReport:
        running = self._running
        reason = f"waiting for job {running[0].job.job_id}" if running is not None else "starting"
        return self._report(job, State.RUNNING, reason)

    @staticmethod
    def _report(job: BenchmarkJob, state: BenchmarkState, reason: str = "") -> BenchmarkReport:
        return BenchmarkReport(job.job_id, state, reason, (), 0, len(job.candidates))

    def open_jobs(self) -> list[str]:
        """Jobs running or waiting, in order (tests and logs)."""
        running: list[Any] = [self._running[0]] if self._running is not None else []
        return [r.job.job_id for r in [*running, *self._waiting]]
