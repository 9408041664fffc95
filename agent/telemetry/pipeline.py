"""The agent's telemetry: sample the meter, close windows, store them, deliver them.

Sensor reads, window closes and every outbox write run on the disk thread; the event loop only
schedules them. A disk that refuses writes raises the ``telemetry.disk_full`` condition (logged once)
and clears it by itself when space returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgefleet.agent.conditions import TELEMETRY_DISK_FULL, Conditions
from edgefleet.agent.config import AgentConfig
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.energy.estimators import CpuTimeEstimator, OpsEstimator
from edgefleet.agent.energy.meters import Meter, Probe
from edgefleet.agent.energy.probe import probe_meters
from edgefleet.agent.energy.sysfs import Sysfs
from edgefleet.agent.metrics import AgentMetrics
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.telemetry.delivery import Delivery, Send
from edgefleet.agent.telemetry.spool import Spool, SpoolState
from edgefleet.agent.telemetry.windows import Window, WindowBuilder
from edgefleet.agent.workload.engine import Engine
from edgefleet.core.fsutil import atomic_write

__all__ = ["PowerModel", "TelemetryPipeline"]

log = logging.getLogger("edgefleet.agent.telemetry")
#: Turns a closed window and its sequence into its stored bytes (the wire format, from the edge).
WindowEncoder = Callable[[Window, int], bytes]
PowerModel = dict[str, float]


def _load_power(path: Path) -> PowerModel:
    defaults = {"idle_watts": 2.0, "active_watts": 6.0, "cores": float(os.cpu_count() or 1)}
    with contextlib.suppress(OSError, ValueError):
        return {**defaults, **json.loads(path.read_text())}
    return defaults


class TelemetryPipeline:
    """Build with ``create`` (it probes the sensors and opens the outbox on the disk thread)."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        engine: Engine,
        active: Callable[[], VariantInfo | None],
        metrics: AgentMetrics,
        conditions: Conditions,
        disk: DiskExecutor,
        encode: WindowEncoder,
        meter: Meter,
        probes: list[Probe],
        spool: Spool,
        state: SpoolState,
    ) -> None:
        self._config = config
        self._engine = engine
        self._active = active
        self._metrics = metrics
        self._conditions = conditions
        self._disk = disk
        self._encode = encode
        self.meter = meter
        self.probes = probes
        self._spool = spool
        self._power_file = config.data_dir / "profile_power.json"
        self.canary_seconds = 60.0
        self.window_seconds = max(config.window_seconds, meter.min_window_s)
        self._builder = WindowBuilder(meter)
        self.delivery = Delivery(spool, disk, self._publish)
        #: The spool as of its last operation (what heartbeats and the Hello report).
        self.state = state
        self._dropped_exported = 0
        self._publish(state)

    @classmethod
    async def create(
        cls,
        config: AgentConfig,
        *,
        engine: Engine,
        active: Callable[[], VariantInfo | None],
        metrics: AgentMetrics,
        conditions: Conditions,
        disk: DiskExecutor,
        encode: WindowEncoder,
    ) -> TelemetryPipeline:
        def open_parts() -> tuple[Meter, list[Probe], Spool, SpoolState]:
            power = _load_power(config.data_dir / "profile_power.json")
            meter, probes = probe_meters(
                sysfs=Sysfs(config.sysfs_root),
                idle_watts=power["idle_watts"],
                active_watts=power["active_watts"],
                cores=int(power["cores"]),
                actual_shunt_uohm=config.ina_shunt_uohm,
            )
            if config.estimator == "ops" and isinstance(meter, CpuTimeEstimator):
                meter = OpsEstimator(lambda: _ops_per_inference(engine))
            spool = Spool.open(
                config.data_dir / "outbox.sqlite",
                max_windows=config.outbox_max_windows,
                memory_windows=config.telemetry_memory_windows,
            )
            return meter, probes, spool, spool.state()

        meter, probes, spool, state = await disk.run(open_parts)
        pipeline = cls(
            config=config,
            engine=engine,
            active=active,
            metrics=metrics,
            conditions=conditions,
            disk=disk,
            encode=encode,
            meter=meter,
            probes=probes,
            spool=spool,
            state=state,
        )
        for probe in probes:
            log.info(
                "energy meter %s: %s%s",
                probe.name,
                "available" if probe.available else "unavailable",
                f" ({probe.reason})" if probe.reason else "",
            )
        log.info("measuring energy with %s (%s)", meter.name, meter.kind)
        return pipeline

    # ---- settings from the orchestrator ----
    async def configure(
        self, *, window_seconds: float, canary_seconds: float | None, power: PowerModel | None
    ) -> None:
        """Window length, canary interval and the profile's power model (persisted for the next start)."""
        self.canary_seconds = 60.0 if canary_seconds is None else canary_seconds
        if window_seconds > 0:
            self.window_seconds = max(window_seconds, self.meter.min_window_s)
        if power is not None and isinstance(self.meter, CpuTimeEstimator):
            await self._disk.run(self._set_power, self.meter, power)

    def _set_power(self, meter: CpuTimeEstimator, power: PowerModel) -> None:
        meter.idle_watts, meter.active_watts = power["idle_watts"], power["active_watts"]
        meter.cores = max(1, int(power["cores"]))
        self._builder.idle_watts = power["idle_watts"]
        try:
            atomic_write(self._power_file, json.dumps(power).encode())
        except OSError as exc:  # a full disk must not break the connection: the model holds in memory
            log.warning("cannot save the power model to %s (%s); using it unsaved", self._power_file, exc)

    @property
    def idle_watts(self) -> float | None:
        """The idle power the windows subtract: the estimator's figure, or what a sensor learnt from windows
        with no inference (None: not yet)."""
        return self._builder.idle_watts

    # ---- tasks ----
    def tasks(self, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
        tasks = [
            asyncio.create_task(self._windows(stop)),
            asyncio.create_task(self._canary(stop)),
            asyncio.create_task(self.delivery.run()),
        ]
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
        meter = self.meter
        while not stop.is_set():
            await self._disk.run(lambda: meter.sample(time.monotonic_ns()))
            await asyncio.sleep(period)

    async def _windows(self, stop: asyncio.Event) -> None:
        await self._disk.run(self._builder.begin)
        while not stop.is_set():
            await _sleep(stop, lambda: self.window_seconds)
            await self.close_window()

    async def close_window(self) -> int:
        """Close the current window into the outbox (disk first), then deliver it; returns its sequence."""
        window, seq, state = await self._disk.run(self._close_and_store)
        self._metrics.energy.labels(window.energy_method, window.energy_kind).inc(window.window_joules)
        self._publish(state)
        self.delivery.wake()
        return seq

    def _close_and_store(self) -> tuple[Window, int, SpoolState]:
        window = self._builder.close(self._engine.stats.take_window(), self._active())
        seq, state = self._spool.append(lambda s: self._encode(window, s))
        return window, seq, state

    # ---- delivery ----
    def attach(self, send: Send) -> None:
        self.delivery.attach(send)

    def detach(self) -> None:
        self.delivery.detach()

    def ack(self, up_to: int, retry_after: float = 0.0) -> None:
        self.delivery.ack(up_to, retry_after)

    @property
    def backpressure_events(self) -> int:
        """Times the orchestrator asked this agent to back off."""
        return self.delivery.backpressure_events

    def _publish(self, state: SpoolState) -> None:
        """A new spool state: metrics, and the disk-full condition raised or cleared (logged once each)."""
        self.state = state
        self._metrics.outbox_backlog.set(state.backlog)
        if state.dropped > self._dropped_exported:  # a counter: cumulative, persisted across restarts
            self._metrics.outbox_dropped.inc(state.dropped - self._dropped_exported)
            self._dropped_exported = state.dropped
        if state.refused:
            if self._conditions.set(TELEMETRY_DISK_FULL, state.refused):
                log.error(
                    "telemetry outbox: %s; keeping up to %d windows in memory (the oldest are dropped "
                    "and counted) until the disk takes writes again",
                    state.refused,
                    self._config.telemetry_memory_windows,
                )
            self._metrics.telemetry_disk_full.set(1)
        elif self._conditions.clear(TELEMETRY_DISK_FULL):
            log.warning("telemetry outbox: the disk takes writes again; windows are stored on disk")
            self._metrics.telemetry_disk_full.set(0)

    async def close(self) -> None:
        await self._disk.run(self._spool.close)


def _ops_per_inference(engine: Engine) -> float:
    loaded = engine.current
    return loaded.bundle.manifest.ops_energy_joules if loaded is not None else 0.0


async def _sleep(stop: asyncio.Event, seconds: Callable[[], float]) -> None:
    """Sleep ``seconds()``, re-reading it while waiting (the orchestrator may change it); wake on stop."""
    started = time.monotonic()
    while (left := started + seconds() - time.monotonic()) > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(left, 0.25))
