"""The agent's composition root: builds the parts, wires them together, starts, runs and stops them.

Parts: the disk thread (every disk write), the identity (enrolment, TLS, trusted keys, renewal), the engine
(one inference thread) and the local Inference API, the slots and the reconciler (desired state -> slots),
benchmark jobs (candidates measured beside the serving variant), telemetry (windows, outbox, delivery),
and the connect loop running one session per stream. Construction touches no disk; ``start`` reads and
writes through the disk thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from edgefleet.agent.conditions import Conditions
from edgefleet.agent.config import AgentConfig
from edgefleet.agent.connection.download import Downloader
from edgefleet.agent.connection.loop import Backoff, ConnectLoop
from edgefleet.agent.connection.messages import (
    ArtifactSpec,
    DeploymentReport,
    DesiredState,
    ServerSettings,
    TelemetryAck,
)
from edgefleet.agent.connection.reconciler import Reconciler, RetryPolicy
from edgefleet.agent.connection.session import Session, SessionParts
from edgefleet.agent.connection.uplink import Uplink
from edgefleet.agent.connection.wire import window_bytes
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.facts import Facts
from edgefleet.agent.identity.manager import IdentityManager
from edgefleet.agent.identity.record import Identity
from edgefleet.agent.metrics import AgentMetrics
from edgefleet.agent.slots import SlotManager, VariantInfo
from edgefleet.agent.telemetry.pipeline import TelemetryPipeline
from edgefleet.agent.workload.benchmark.jobs import BenchmarkJobs
from edgefleet.agent.workload.benchmark.runner import JobRunner, RunnerParts
from edgefleet.agent.workload.benchmark.store import ReportStore
from edgefleet.agent.workload.engine import Engine
from edgefleet.agent.workload.predict import InferenceServer
from edgefleet.agent.workload.replay import replay
from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.fsutil import atomic_write

__all__ = ["Agent"]

log = logging.getLogger("edgefleet.agent")


class Agent:
    def __init__(
        self, config: AgentConfig, *, disk: DiskExecutor | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.disk = disk or DiskExecutor()
        self._identity = IdentityManager(config, self.disk)
        self.metrics = AgentMetrics(CollectorRegistry(), identity=self._identity.metric_labels)
        self.conditions = Conditions()
        self.engine = Engine(threads=config.threads)
        self.engine.stats.on_latencies = self.metrics.observe_latencies
        self.slots = SlotManager(config.data_dir / "slots")
        chunk = config.download_chunk_kib * 1024
        self.downloader = Downloader(config.data_dir, self._identity, self.disk, chunk_bytes=chunk)
        scratch = config.data_dir / "benchmark" / "scratch"  # candidates: never a slot
        self._candidates = Downloader(scratch, self._identity, self.disk, chunk_bytes=chunk)
        self.inference = InferenceServer(self.engine, config.predict_listen, config.local_socket)
        #: Set once ``start`` has finished (the parts are open, Predict answers).
        self.started = asyncio.Event()
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self.uplink = Uplink()
        self._facts = Facts(
            config=config,
            identity=self._identity,
            slots=self.slots,
            disk=self.disk,
            conditions=self.conditions,
            runtime=lambda: self.reconciler.runtime,
            telemetry=lambda: self.telemetry.state,
        )
        #: What the next Hello and heartbeat report.
        self.hello_facts, self.heartbeat_facts = self._facts.hello, self._facts.heartbeat
        self.reconciler = Reconciler(
            slots=self.slots,
            engine=self.engine,
            disk=self.disk,
            fetch=self._fetch,
            discard=self.downloader.discard,
            send=self.uplink.status,
            runtime_ref=self._facts.runtime_ref,
            stop=self._stop,
            retry=RetryPolicy(config.deploy_retry_initial_seconds, config.deploy_retry_max_seconds),
            on_slots=self._slots_metric,
            on_outcome=self._count_outcome,
        )
        self._telemetry: TelemetryPipeline | None = None
        runner = JobRunner(
            RunnerParts(
                engine=self.engine,
                disk=self.disk,
                fetch=self._fetch_candidate,
                scratch=scratch,
                meter=lambda: self.telemetry.meter,
                idle_watts=lambda: self.telemetry.idle_watts,
                threads=config.threads,
            )
        )
        store = ReportStore(config.data_dir / "benchmark" / "reports.json")
        self.benchmarks = BenchmarkJobs(runner, store, self.disk, self.uplink.benchmark, scratch=scratch)
        self._session = Session(
            SessionParts(
                hello=self.hello_facts,
                heartbeat=self.heartbeat_facts,
                heartbeat_seconds=config.heartbeat_seconds,
                on_desired=self.reconciler.offer,
                on_ack=self._on_ack,
                on_settings=self._on_settings,
                on_established=self._established,
                attach_telemetry=self._attach_telemetry,
                detach_telemetry=lambda: self.telemetry.detach(),
                on_benchmark=self.benchmarks.offer,
                on_attached=self.benchmarks.resend,
                background=lambda stub: self._identity.renew_when_due(stub, self._stop),
                uplink=self.uplink,
                stop=self._stop,
            )
        )
        self._loop = ConnectLoop(
            self._attempt,
            backoff=Backoff(
                config.backoff_initial_seconds, config.backoff_max_seconds, rng or random.Random()
            ),
            sleep=self.wait_or_stop,
            stopping=self._stop.is_set,
            on_session_end=self._session_ended,
            on_retry=self.metrics.reconnects.inc,
            addresses=config.orchestrators,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._closed = False

    # ---- what tests and tools look at ----
    @property
    def identity(self) -> Identity | None:
        return self._identity.current

    @property
    def reconnects(self) -> int:
        return self._loop.reconnects

    @property
    def certificate_renewals(self) -> int:
        return self._identity.renewals

    @property
    def telemetry(self) -> TelemetryPipeline:
        if self._telemetry is None:
            raise FailedPrecondition("the agent has not started")
        return self._telemetry

    # ---- lifecycle ----
    async def start(self) -> None:
        await self.disk.run(self.config.data_dir.mkdir, parents=True, exist_ok=True)
        await self.disk.run(self.slots.load)
        await self._identity.load()
        self._telemetry = await TelemetryPipeline.create(
            self.config,
            engine=self.engine,
            active=self._active_variant,
            metrics=self.metrics,
            conditions=self.conditions,
            disk=self.disk,
            encode=window_bytes,
        )
        await self.reconciler.recover()
        await self.benchmarks.start()
        for probe in self._telemetry.probes:
            self.metrics.meter_available.labels(probe.name).set(1 if probe.available else 0)
        metrics_address = self.metrics.serve(self.config.metrics_listen)
        await self.disk.run(_write_line, self.config.data_dir / "metrics.addr", metrics_address)
        log.info("edgefleet-agent metrics on http://%s/metrics", metrics_address)
        address = await self.inference.start()
        log.info("edgefleet-agent predict API on %s", address)
        await self.disk.run(_write_line, self.config.data_dir / "predict.addr", address)
        self._tasks += self._telemetry.tasks(self._stop)
        self._tasks += [asyncio.create_task(c) for c in (self.reconciler.run(), self.benchmarks.run())]
        if self.config.replay_rate > 0:
            self._tasks.append(asyncio.create_task(replay(self.engine, self.config.replay_rate, self._stop)))
        self.started.set()

    async def run(self) -> None:
        await self.start()
        try:
            if self._identity.insecure:
                log.warning(
                    "INSECURE: this agent talks plaintext gRPC with a bearer secret; development only. "
                    "Enrol with the orchestrator's CA (--ca) for mTLS."
                )
            await self._loop.run()
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.benchmarks.flush()  # a final report being written is written
        await self.inference.stop()
        self.engine.close()
        if self._telemetry is not None:
            await self._telemetry.close()
        await asyncio.to_thread(self.disk.close)  # what was queued is written before the process ends

    async def wait_or_stop(self, seconds: float) -> bool:
        """Sleep; True when the agent is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    # ---- the connection ----
    async def _attempt(self) -> bool:
        await self._identity.ensure_enrolled()
        async with await self._identity.channel(self._loop.endpoints.current) as channel:
            return await self._session.run(channel, self._identity.metadata())

    async def _fetch(self, desired: DesiredState, progress: Callable[[int, int], None]) -> Path:
        async with await self._identity.channel(self._loop.endpoints.current) as channel:
            return await self.downloader.fetch(
                channel, desired.artifact, metadata=self._identity.metadata(), progress=progress
            )

    async def _fetch_candidate(self, spec: ArtifactSpec) -> Path:
        async with await self._identity.channel() as channel:
            return await self._candidates.fetch(channel, spec, metadata=self._identity.metadata())

    def _established(self) -> None:
        self.connected.set()
        self.metrics.connected.set(1)
        log.info("connected to %s", self._loop.endpoints.current)

    def _session_ended(self) -> None:
        self.connected.clear()
        self.metrics.connected.set(0)

    def _on_ack(self, ack: TelemetryAck) -> None:
        self.telemetry.ack(ack.up_to, ack.retry_after)

    async def _on_settings(self, settings: ServerSettings) -> None:
        power = None
        if settings.active_watts > 0:
            power = {
                "idle_watts": settings.idle_watts,
                "active_watts": settings.active_watts,
                "cores": float(settings.cores),
            }
        await self.telemetry.configure(
            window_seconds=settings.window_seconds, canary_seconds=settings.canary_seconds, power=power
        )
        await self._identity.adopt(settings.signing_keys)

    def _attach_telemetry(self, send: Callable[[Sequence[bytes], int], None]) -> None:
        self.telemetry.attach(send)

    # ---- small helpers ----
    def _active_variant(self) -> VariantInfo | None:
        active = self.slots.active
        return active.variant if active is not None else None

    def _slots_metric(self) -> None:
        self.metrics.set_slots([(s.name, s.state) for s in self.slots.slots()])

    def _count_outcome(self, report: DeploymentReport) -> None:
        self.metrics.deployment_outcomes.labels(report.phase.value, report.fault.value).inc()


def _write_line(path: Path, text: str) -> None:
    atomic_write(path, (text + "\n").encode())
