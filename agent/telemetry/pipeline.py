"""The agent's telemetry: sample the meter, close windows, store them in the outbox, deliver them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from edgefleet.agent.config import AgentConfig
from edgefleet.agent.energy.estimators import CpuTimeEstimator, OpsEstimator
from edgefleet.agent.energy.probe import probe_meters
from edgefleet.agent.energy.sysfs import Sysfs
from edgefleet.agent.engine import Engine
from edgefleet.agent.metrics import AgentMetrics
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.telemetry.outbox import Outbox
from edgefleet.agent.telemetry.windows import WindowBuilder
from edgefleet.agent.wire import window_pb
from edgefleet.core.fsutil import atomic_write
from edgefleet.v1 import common_pb2, control_pb2

__all__ = ["TelemetryPipeline"]

log = logging.getLogger("edgefleet.agent.telemetry")
BATCH = 100
#: Unacknowledged batches on the wire at once: a reconnect with a big backlog does not flood the stream.
MAX_INFLIGHT = 4


class TelemetryPipeline:
    def __init__(
        self,
        config: AgentConfig,
        engine: Engine,
        active: Callable[[], VariantInfo | None],
        metrics: AgentMetrics | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._engine = engine
        self._active = active
        self._power_file = config.data_dir / "profile_power.json"
        power = self._load_power()
        self.meter, self.probes = probe_meters(
            sysfs=Sysfs(config.sysfs_root),
            idle_watts=power["idle_watts"],
            active_watts=power["active_watts"],
            cores=int(power["cores"]),
            actual_shunt_uohm=config.ina_shunt_uohm,
        )
        if config.estimator == "ops" and isinstance(self.meter, CpuTimeEstimator):
            self.meter = OpsEstimator(self._ops_per_inference)
        self.outbox = Outbox(config.data_dir / "outbox.sqlite", max_windows=config.outbox_max_windows)
        self.canary_seconds = 60.0
        self.window_seconds = max(config.window_seconds, self.meter.min_window_s)
        self._send: Callable[[control_pb2.AgentMessage], None] | None = None
        self._sent = 0
        #: Last sequence of each batch sent and not yet acknowledged.
        self._inflight: list[int] = []
        self._paused_until = 0.0
        #: Times the orchestrator asked us to back off.
        self.backpressure_events = 0
        self._builder: WindowBuilder | None = None
        for probe in self.probes:
            log.info(
                "energy meter %s: %s%s",
                probe.name,
                "available" if probe.available else "unavailable",
                f" ({probe.reason})" if probe.reason else "",
            )
        log.info("measuring energy with %s (%s)", self.meter.name, self.meter.kind)

    def _ops_per_inference(self) -> float:
        loaded = self._engine.current
        return loaded.bundle.manifest.ops_energy_joules if loaded is not None else 0.0

    def _load_power(self) -> dict[str, float]:
        defaults = {"idle_watts": 2.0, "active_watts": 6.0, "cores": float(os.cpu_count() or 1)}
        with contextlib.suppress(OSError, ValueError):
            return {**defaults, **json.loads(self._power_file.read_text())}
        return defaults

    def configure(self, msg: control_pb2.AgentConfig) -> None:
        """Settings from the orchestrator: window length and the profile's power model (persisted)."""
        self.canary_seconds = msg.canary_interval_seconds if msg.HasField("canary_interval_seconds") else 60.0
        if msg.telemetry_window_seconds > 0:
            self.window_seconds = max(msg.telemetry_window_seconds, self.meter.min_window_s)
        if msg.active_watts > 0 and isinstance(self.meter, CpuTimeEstimator):
            self.meter.idle_watts, self.meter.active_watts = msg.idle_watts, msg.active_watts
            self.meter.cores = max(1, msg.cores)
            if self._builder is not None:
                self._builder.idle_watts = msg.idle_watts
            doc = {"idle_watts": msg.idle_watts, "active_watts": msg.active_watts, "cores": msg.cores}
            atomic_write(self._power_file, json.dumps(doc).encode())

    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        tasks = [asyncio.create_task(self._windows(stop)), asyncio.create_task(self._canary(stop))]
        if self.meter.sample_hz > 0:
            tasks.append(asyncio.create_task(self._sampler(stop)))
        return tasks

    async def _canary(self, stop: asyncio.Event) -> None:
        """Periodic accuracy check on the variant's bundled labelled samples (0 turns it off)."""
        while not stop.is_set():
            await _sleep(stop, lambda: self.canary_seconds or 60.0)
            loaded = self._engine.current
            if self.canary_seconds > 0 and loaded is not None and not stop.is_set():
                try:
                    await self._engine.replay_chunk(0, len(loaded.bundle.samples))
                except Exception as exc:  # an inference error is counted by the engine; keep checking
                    log.warning("canary evaluation failed: %s", exc)

    async def _sampler(self, stop: asyncio.Event) -> None:
        period = 1.0 / self.meter.sample_hz
        while not stop.is_set():
            self.meter.sample(time.monotonic_ns())
            await asyncio.sleep(period)

    async def _windows(self, stop: asyncio.Event) -> None:
        self._builder = WindowBuilder(self.meter)
        while not stop.is_set():
            await _sleep(stop, lambda: self.window_seconds)
            self.close_window()

    def close_window(self) -> int:
        """Close the current window into the outbox (disk first), then deliver it; returns its sequence."""
        assert self._builder is not None
        window = self._builder.close(self._engine.stats.take_window(), self._active())
        seq = self.outbox.append(lambda s: window_pb(window, s).SerializeToString())
        if self._metrics is not None:
            self._metrics.energy.labels(window.energy_method, window.energy_kind).inc(window.window_joules)
            self._metrics.outbox_backlog.set(self.outbox.backlog())
            self._metrics.outbox_dropped.set(self.outbox.dropped)
        self.flush()
        return seq

    # ---- delivery ----
    def attach(self, send: Callable[[control_pb2.AgentMessage], None]) -> None:
        """A stream is up: resend everything not acknowledged yet (the orchestrator de-duplicates)."""
        self._send, self._sent, self._inflight = send, 0, []
        self._paused_until = 0.0
        self.flush()

    def detach(self) -> None:
        self._send = None

    def flush(self) -> None:
        """Send pending windows, at most MAX_INFLIGHT unacknowledged batches at a time (flow control)."""
        while self._send is not None and len(self._inflight) < MAX_INFLIGHT:
            if time.monotonic() < self._paused_until:
                return
            pending = self.outbox.pending(after=self._sent, limit=BATCH)
            if not pending:
                return
            batch = control_pb2.TelemetryBatch(
                windows=[common_pb2.TelemetryWindow.FromString(p) for _, p in pending]
            )
            self._send(control_pb2.AgentMessage(telemetry=batch))
            self._sent = pending[-1][0]
            self._inflight.append(self._sent)

    def ack(self, up_to: int, retry_after: float = 0.0) -> None:
        """The orchestrator stored everything up to ``up_to``; ``retry_after`` > 0: it was overloaded and
        took nothing more, so resend from there after that long (its back-pressure advice)."""
        self.outbox.ack(up_to)
        self._inflight = [s for s in self._inflight if s > up_to]
        if retry_after > 0:
            self._sent = up_to
            self._inflight = []
            self._paused_until = time.monotonic() + min(retry_after, 300.0)
            self.backpressure_events += 1
            with contextlib.suppress(RuntimeError):  # no running loop: the next window flushes
                asyncio.get_running_loop().call_later(min(retry_after, 300.0), self.flush)
        if self._metrics is not None:
            self._metrics.outbox_backlog.set(self.outbox.backlog())
        self.flush()

    def close(self) -> None:
        self.outbox.close()


async def _sleep(stop: asyncio.Event, seconds: Callable[[], float]) -> None:
    """Sleep ``seconds()``, re-reading it while waiting (the orchestrator may change it); wake on stop."""
    started = time.monotonic()
    while (left := started + seconds() - time.monotonic()) > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(left, 0.25))
