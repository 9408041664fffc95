"""The agent daemon: one Connect stream to the orchestrator, level-triggered desired state, A/B slots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psutil
from prometheus_client import CollectorRegistry

from edgefleet import __version__
from edgefleet.agent.config import AgentConfig
from edgefleet.agent.download import ArtifactSpec, Downloader
from edgefleet.agent.engine import Engine
from edgefleet.agent.enrolment import adopt_signing_keys, enroll, renew_certificate
from edgefleet.agent.hardware import read_hardware
from edgefleet.agent.identity import Identity
from edgefleet.agent.inference_server import InferenceServer
from edgefleet.agent.metrics import AgentMetrics
from edgefleet.agent.replay import replay
from edgefleet.agent.runtime import runtime_info
from edgefleet.agent.slots import SlotManager
from edgefleet.agent.telemetry.pipeline import TelemetryPipeline
from edgefleet.agent.tls import DeviceTls
from edgefleet.agent.wire import hardware_pb, slot_pb, variant_from_pb, variant_pb
from edgefleet.core.errors import EdgefleetError
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc

__all__ = ["Agent"]

log = logging.getLogger("edgefleet.agent")
Metadata = tuple[tuple[str, str | bytes], ...]


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.slots = SlotManager(config.data_dir / "slots")
        self.engine = Engine(threads=config.threads)
        self.identity = Identity.load(config.data_dir)
        self._tls: DeviceTls | None = None
        #: Device certificates renewed by this process.
        self.certificate_renewals = 0
        self.downloader = Downloader(
            config.data_dir,
            lambda: self.identity.trusted() if self.identity else {},
            chunk_bytes=config.download_chunk_kib * 1024,
        )
        self.inference = InferenceServer(self.engine, config.predict_listen)
        self.runtime = "litert"
        self.reconnects = 0
        self.connected = asyncio.Event()
        self._stop = asyncio.Event()
        self._send_queue: asyncio.Queue[control_pb2.AgentMessage | None] | None = None
        self._desired: control_pb2.DesiredState | None = None
        self._apply_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.metrics = AgentMetrics(CollectorRegistry(), identity=self._metric_labels)
        self.engine.stats.on_latencies = self.metrics.observe_latencies
        self.telemetry = TelemetryPipeline(config, self.engine, self._active_variant, self.metrics)

    def _metric_labels(self) -> dict[str, str]:
        """``device`` and ``profile`` on every agent series, once enrolled."""
        if self.identity is None:
            return {}
        return {"device": self.identity.device_id, "profile": self.identity.profile or self.config.profile}

    def _slots_metric(self) -> None:
        self.metrics.set_slots([(s.name, s.state) for s in self.slots.slots()])

    def _active_variant(self) -> Any:
        active = self.slots.active
        return active.variant if active is not None else None

    # ---- lifecycle ----
    async def start(self) -> None:
        note = self.slots.recover()
        if note:
            log.warning(note)
        active = self.slots.active
        if active is not None and active.variant is not None:
            self.runtime = active.runtime
            try:
                self.engine.serve(
                    await self.engine.load(
                        active.name, self.slots.bundle_path(active.name), active.variant, active.runtime
                    )
                )
                log.info("serving %s from slot %s", active.variant.variant_id[:12], active.name)
            except EdgefleetError as exc:
                log.error("active slot %s does not load: %s", active.name, exc.message)
                log.warning(self.slots.rollback(f"does not load after restart: {exc.message}"))
                await self._load_active()
        for probe in self.telemetry.probes:
            self.metrics.meter_available.labels(probe.name).set(1 if probe.available else 0)
        self._slots_metric()
        metrics_address = self.metrics.serve(self.config.metrics_listen)
        (self.config.data_dir / "metrics.addr").write_text(metrics_address + "\n")
        log.info("edgefleet-agent metrics on http://%s/metrics", metrics_address)
        address = await self.inference.start()
        log.info("edgefleet-agent predict API on %s", address)
        (self.config.data_dir / "predict.addr").write_text(address + "\n")
        self._tasks += self.telemetry.tasks(self._stop)
        if self.config.replay_rate > 0:
            self._tasks.append(asyncio.create_task(replay(self.engine, self.config.replay_rate, self._stop)))

    async def run(self) -> None:
        await self.start()
        try:
            await self._connection_loop()
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        for task in [*self._tasks, self._apply_task]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [*self._tasks, self._apply_task] if t], return_exceptions=True)
        await self.inference.stop()
        self.engine.close()
        self.telemetry.close()

    # ---- connection ----
    def _metadata(self) -> Metadata:
        assert self.identity is not None
        if self.identity.mtls:  # the certificate says who we are; the header must agree with it
            return (("x-edgefleet-device", self.identity.device_id),)
        return (
            ("x-edgefleet-device", self.identity.device_id),
            ("authorization", f"Bearer {self.identity.secret}"),
        )

    def _channel(self) -> grpc.aio.Channel:
        """A channel to the agents' port: mTLS with the device certificate, or plaintext (insecure)."""
        assert self.identity is not None
        if not self.identity.mtls:
            return grpc.aio.insecure_channel(self.config.orchestrator)
        if self._tls is None:
            self._tls = DeviceTls.load(self.config.data_dir)
        return grpc.aio.secure_channel(self.config.orchestrator, self._tls.credentials())

    async def _enroll(self) -> None:
        self.identity, self._tls = await enroll(self.config)

    async def _connection_loop(self) -> None:
        if self.config.insecure or (self.identity is not None and not self.identity.mtls):
            log.warning(
                "INSECURE: this agent talks plaintext gRPC with a bearer secret; development only. "
                "Enrol with the orchestrator's CA (--ca) for mTLS."
            )
        delay = self.config.backoff_initial_seconds
        while not self._stop.is_set():
            established = False
            try:
                if self.identity is None:
                    await self._enroll()
                async with self._channel() as channel:
                    stub: Any = control_pb2_grpc.FleetControlStub(channel)
                    established = await self._session(stub)
            except grpc.aio.AioRpcError as exc:
                log.warning(
                    "stream to %s ended: %s %s", self.config.orchestrator, exc.code().name, exc.details()
                )
            except EdgefleetError as exc:
                log.error("%s", exc.message)
            finally:
                self.connected.clear()
                self.metrics.connected.set(0)
            if self._stop.is_set():
                break
            self.reconnects += 1
            self.metrics.reconnects.inc()
            delay = (
                self.config.backoff_initial_seconds
                if established
                else min(delay * 2, self.config.backoff_max_seconds)
            )
            # Full jitter (AWS architecture blog): spread reconnects of a whole fleet after an outage.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=random.uniform(0, delay))

    async def _session(self, stub: Any) -> bool:
        outbox: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
        outbox.put_nowait(control_pb2.AgentMessage(hello=self._hello()))

        async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
            while (msg := await outbox.get()) is not None:
                yield msg

        call = stub.Connect(requests(), metadata=self._metadata())
        self._send_queue = outbox
        self.telemetry.attach(outbox.put_nowait)
        heartbeats = asyncio.create_task(self._heartbeats(outbox))
        renewals = asyncio.create_task(self._renew_when_due(stub))
        stopper = asyncio.create_task(self._stop.wait())
        established = False
        try:
            reader = asyncio.ensure_future(self._read(call))
            done, _ = await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                established = reader.result()
            else:
                call.cancel()
                reader.cancel()
                established = True
        finally:
            heartbeats.cancel()
            renewals.cancel()
            stopper.cancel()
            self.telemetry.detach()
            self._send_queue = None
            outbox.put_nowait(None)
        return established

    async def _read(self, call: Any) -> bool:
        established = False
        async for msg in call:
            if not established:
                established = True
                self.connected.set()
                self.metrics.connected.set(1)
                log.info("connected to %s", self.config.orchestrator)
            kind = msg.WhichOneof("body")
            if kind == "desired_state":
                self._on_desired(msg.desired_state)
            elif kind == "telemetry_ack":
                ack = msg.telemetry_ack
                self.telemetry.ack(ack.up_to_sequence, ack.retry_after_seconds)
            elif kind == "config":
                self.telemetry.configure(msg.config)
                self._update_trust(msg.config.signing_keys)
        return established

    def _update_trust(self, keys: Any) -> None:
        if self.identity is not None:
            self.identity = adopt_signing_keys(self.identity, keys, self.config.data_dir)

    def _hello(self) -> control_pb2.Hello:
        assert self.identity is not None
        rt = runtime_info("tflite-micro" if self.runtime == "tflite-micro" else "litert")
        hello = control_pb2.Hello(
            device_id=self.identity.device_id,
            profile=self.identity.profile or self.config.profile,
            hardware=hardware_pb(read_hardware(self.config.data_dir)),
            runtime=common_pb2.RuntimeInfo(name=rt.name, version=rt.version),
            slots=[slot_pb(s) for s in self.slots.slots()],
            agent_version=__version__,
            applied_generation=self.slots.applied_generation,
        )
        for field, slot in (("active", self.slots.active), ("previous", self.slots.previous)):
            if slot is not None and slot.variant is not None:
                getattr(hello, field).CopyFrom(variant_pb(slot.variant))
        return hello

    async def _renew_when_due(self, stub: Any) -> None:
        """Renew the device certificate once a third of its validity is left (retry every minute on
        failure); the next connection uses the new one. Without it, a fleet would drop off in a year."""
        if self.identity is None or not self.identity.mtls:
            return
        while True:
            if self._tls is None:
                self._tls = DeviceTls.load(self.config.data_dir)
            wait = self._tls.renew_at() - time.time()
            if wait > 0 and await self.wait_or_stop(min(wait, 3600.0)):
                return
            if wait > 0:
                continue
            try:
                self._tls = await renew_certificate(
                    stub,
                    self._tls,
                    self.config.name or socket.gethostname(),
                    self.config.data_dir,
                    self._metadata(),
                )
                self.certificate_renewals += 1
                if await self.wait_or_stop(60.0):  # at most one renewal a minute, whatever the validity
                    return
            except EdgefleetError as exc:
                log.warning("certificate renewal failed (%s); retrying in 60 s", exc.message)
                if await self.wait_or_stop(60.0):
                    return

    async def _heartbeats(self, outbox: asyncio.Queue[control_pb2.AgentMessage | None]) -> None:
        proc = psutil.Process()
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            beat = control_pb2.Heartbeat(
                cpu_percent=proc.cpu_percent(),
                rss_bytes=proc.memory_info().rss,
                outbox_backlog=self.telemetry.outbox.backlog(),
            )
            beat.sent_at.GetCurrentTime()
            outbox.put_nowait(control_pb2.AgentMessage(heartbeat=beat))

    def _report(
        self,
        generation: int,
        ref: common_pb2.VariantRef,
        phase: common_pb2.DeploymentPhase.ValueType,
        reason: str = "",
        done: int = 0,
        total: int = 0,
    ) -> None:
        self._slots_metric()
        if reason:
            log.warning("deployment %d: %s", generation, reason)
        if self._send_queue is not None:
            status = control_pb2.DeploymentStatus(
                generation=generation,
                variant=ref,
                phase=phase,
                reason=reason,
                bytes_done=done,
                bytes_total=total,
            )
            active = self.slots.active
            if active is not None and active.variant is not None:
                status.active.CopyFrom(variant_pb(active.variant))
            rt = runtime_info("tflite-micro" if self.runtime == "tflite-micro" else "litert")
            status.runtime.CopyFrom(common_pb2.RuntimeInfo(name=rt.name, version=rt.version))
            self._send_queue.put_nowait(control_pb2.AgentMessage(deployment_status=status))

    # ---- desired state ----
    def _on_desired(self, desired: control_pb2.DesiredState) -> None:
        self._desired = desired
        if self._apply_task is None or self._apply_task.done():
            self._apply_task = asyncio.create_task(self._apply_latest())

    async def _apply_latest(self) -> None:
        while self._desired is not None:
            desired = self._desired
            try:
                await self._apply(desired)
            except EdgefleetError as exc:
                self._report(
                    desired.generation, desired.variant, common_pb2.DEPLOYMENT_PHASE_FAILED, exc.message
                )
                self.slots.set_applied_generation(desired.generation)
            except OSError as exc:  # the device itself (disk, permissions): report it, keep serving
                log.exception("applying generation %d failed", desired.generation)
                reason = f"device error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})"
                self._report(desired.generation, desired.variant, common_pb2.DEPLOYMENT_PHASE_FAILED, reason)
                self.slots.set_applied_generation(desired.generation)
            if self._desired is desired:
                return

    async def _apply(self, ds: control_pb2.DesiredState) -> None:
        from edgefleet.agent.deploy import apply_desired

        await apply_desired(self, ds)

    async def _load_active(self) -> None:
        active = self.slots.active
        if active is None or active.variant is None:
            self.engine.serve(None)
            return
        self.engine.serve(
            await self.engine.load(
                active.name, self.slots.bundle_path(active.name), active.variant, active.runtime
            )
        )

    def variant_of(self, ds: control_pb2.DesiredState) -> Any:
        return variant_from_pb(ds.variant)

    async def fetch(self, ds: control_pb2.DesiredState) -> Any:
        spec = ArtifactSpec(
            ds.artifact.sha256, ds.artifact.size_bytes, ds.artifact.signature, ds.artifact.signing_key_id
        )
        async with self._channel() as channel:
            stub: Any = control_pb2_grpc.FleetControlStub(channel)

            def progress(done: int, total: int) -> None:
                self._report(
                    ds.generation, ds.variant, common_pb2.DEPLOYMENT_PHASE_DOWNLOADING, "", done, total
                )

            return await self.downloader.fetch(stub, spec, metadata=self._metadata(), progress=progress)

    async def wait_or_stop(self, seconds: float) -> bool:
        """Sleep; True when the agent is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()
