"""FleetControl servicer: what agents call (enrolment, the Connect stream, artifact download)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO, TypeAlias

import grpc

from edgefleet.core.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
)
from edgefleet.orchestrator.benchmark.model import BenchmarkJob
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.server.artifact_access import authorise_artifact
from edgefleet.orchestrator.server.auth import DeviceAuth
from edgefleet.orchestrator.server.errors import translate_errors, translate_stream_errors
from edgefleet.orchestrator.server.grouped import GroupedCalls
from edgefleet.orchestrator.server.ingest import TelemetryIngest
from edgefleet.orchestrator.server.sessions import Outbound
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.server.transfers import TransferSlots
from edgefleet.orchestrator.service.deployments import DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService, StatusReport
from edgefleet.orchestrator.service.identity import IdentityService
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.wire.benchmarks import report_from_pb
from edgefleet.orchestrator.wire.fleet import (
    conditions_from_pb,
    report_from_hello,
    status_from_pb,
)
from edgefleet.v1 import control_pb2, control_pb2_grpc

__all__ = ["MAX_AGENT_MESSAGE", "FleetControlServicer"]

log = logging.getLogger("edgefleet.server")

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]
#: Largest message an agent may send on its stream (telemetry batches included).
MAX_AGENT_MESSAGE = 1024 * 1024
HELLO_TIMEOUT = 30.0
DEFAULT_CHUNK = 256 * 1024
MAX_CHUNK = 4 * 1024 * 1024


def _bounded(msg: control_pb2.AgentMessage) -> control_pb2.AgentMessage:
    size = msg.ByteSize()
    if size > MAX_AGENT_MESSAGE:
        raise ResourceExhausted(f"agent message of {size} bytes exceeds the {MAX_AGENT_MESSAGE} byte limit")
    return msg


class FleetControlServicer(control_pb2_grpc.FleetControlServicer):
    def __init__(
        self,
        *,
        identity: IdentityService,
        devices: DeviceService,
        deployments: DeploymentService,
        benchmarks: BenchmarkService,
        job_message: Callable[[BenchmarkJob], control_pb2.OrchestratorMessage],
        telemetry: TelemetryService,
        profiles: ProfileRegistry,
        artifacts: ArtifactStore,
        streams: Streams,
        auth: DeviceAuth,
        ingest: TelemetryIngest,
        heartbeat_seconds: float = 10.0,
        window_seconds: float = 10.0,
        transfers: TransferSlots,
        canary_seconds: float = 60.0,
        metrics: OrchestratorMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._transfers = transfers
        self._identity = identity
        self._devices = devices
        #: Deployment statuses of all streams, written in groups (one transaction each).
        self._statuses: GroupedCalls[tuple[str, StatusReport], DeviceRecord] = GroupedCalls(
            devices.record_statuses
        )
        self._deployments = deployments
        self._benchmarks = benchmarks
        self._job_message = job_message
        self._telemetry = telemetry
        self._profiles = profiles
        self._artifacts = artifacts
        self._streams = streams
        self._auth = auth
        self._ingest = ingest
        self._heartbeat_seconds = heartbeat_seconds
        self._window_seconds = window_seconds
        self._canary_seconds = canary_seconds

    @translate_errors
    async def Enroll(self, request: control_pb2.EnrollRequest, context: Ctx) -> control_pb2.EnrollResponse:
        enrolled = await asyncio.to_thread(
            self._identity.enroll,
            token=request.token,
            profile=request.profile,
            name=request.name,
            labels=dict(request.labels),
            csr_pem=request.csr_pem,
        )
        return control_pb2.EnrollResponse(
            device_id=enrolled.device.device_id,
            device_secret=enrolled.secret,
            certificate_pem=enrolled.certificate_pem,
            ca_certificate_pem=enrolled.ca_pem,
            signing_keys=[
                control_pb2.SigningKey(key_id=k.key_id, public_key=k.raw) for k in enrolled.signing_keys
            ],
        )

    @translate_stream_errors
    async def Connect(
        self, request_iterator: AsyncIterator[control_pb2.AgentMessage], context: Ctx
    ) -> AsyncIterator[control_pb2.OrchestratorMessage]:
        device = await self._auth.device(context)
        try:
            first = _bounded(await asyncio.wait_for(anext(request_iterator), timeout=HELLO_TIMEOUT))
        except StopAsyncIteration:
            raise InvalidArgument("the stream closed before its Hello") from None
        except TimeoutError:
            raise InvalidArgument(f"no Hello within {HELLO_TIMEOUT:.0f} s") from None
        kind = first.WhichOneof("body")
        if kind != "hello":
            raise InvalidArgument(
                f"the first message of a stream must be a Hello, not {kind or 'an empty message'}"
            )
        hello = first.hello
        missing = [
            name
            for name, value in (
                ("device_id", hello.device_id),
                ("profile", hello.profile),
                ("runtime.name", hello.runtime.name),
            )
            if not value
        ]
        if missing:
            raise InvalidArgument(f"Hello is missing required field(s) {missing}")
        if hello.device_id != device.device_id:
            raise PermissionDenied(
                f"this connection belongs to {device.device_id}, not {hello.device_id[:80]!r}"
            )
        try:  # before anything is stored: a clone's Hello must not overwrite the live device's report
            queue = await self._streams.open(device.device_id, context.peer())
        except AlreadyExists as exc:
            self._devices.note(device.device_id, "identity.duplicate_stream", exc.message)
            log.warning(
                "refused a second stream for %s from %s: %s", device.device_id, context.peer(), exc.message
            )
            if self._metrics is not None:
                self._metrics.duplicate_streams.inc()
            raise
        try:
            device = await asyncio.to_thread(
                self._devices.hello, device.device_id, hello.profile, report_from_hello(hello)
            )
            self._devices.seen(device.device_id, conditions_from_pb(hello.conditions))
            # alive as of its Hello (the claim and the Hello took store round trips, slow under load)
            self._streams.sessions.touch(device.device_id, queue)
        except BaseException:
            self._streams.close(device.device_id, queue)
            raise
        if self._metrics is not None:
            self._metrics.streams_opened.inc()
        reader = asyncio.create_task(self._read(device.device_id, device.profile, request_iterator, queue))
        try:
            profile = self._profiles.get(device.profile)
            config = control_pb2.AgentConfig(
                heartbeat_seconds=self._heartbeat_seconds,
                telemetry_window_seconds=self._window_seconds,
                canary_interval_seconds=self._canary_seconds,
                idle_watts=profile.power.idle_watts,
                active_watts=profile.power.active_watts,
                cores=profile.hardware.cores,
                signing_keys=[
                    control_pb2.SigningKey(key_id=k.key_id, public_key=k.raw)
                    for k in self._identity.trusted_keys()
                ],
            )
            yield control_pb2.OrchestratorMessage(config=config)
            # what is stored already: the agent forgets those windows instead of sending them again
            stored = await asyncio.to_thread(self._telemetry.acked, device.device_id)
            yield control_pb2.OrchestratorMessage(
                telemetry_ack=control_pb2.TelemetryAck(up_to_sequence=stored)
            )
            if device.desired is not None:  # level-triggered: always re-send what the device should run
                yield self._streams.message(device.desired)
            for job in await asyncio.to_thread(self._benchmarks.open_jobs_for, device.device_id):
                yield await asyncio.to_thread(self._job_message, job)
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self._streams.close(device.device_id, queue)

    async def _read(
        self, device_id: str, profile: str, requests: AsyncIterator[control_pb2.AgentMessage], queue: Outbound
    ) -> None:
        try:
            async for msg in requests:
                kind = _bounded(msg).WhichOneof("body")
                self._streams.sessions.touch(device_id, queue)
                if kind == "heartbeat":
                    self._devices.seen(device_id, conditions_from_pb(msg.heartbeat.conditions))
                elif kind == "deployment_status":
                    # grouped with other streams' statuses: one transaction per group
                    await self._statuses.call((device_id, status_from_pb(msg.deployment_status)))
                elif kind == "telemetry":
                    dropped = msg.telemetry.dropped_through_sequence
                    # decoded and stored off the loop, or back-pressure
                    self._ingest.offer(device_id, profile, msg.telemetry.windows, queue, dropped)
                elif kind == "benchmark_report":
                    report = report_from_pb(msg.benchmark_report)
                    await asyncio.to_thread(self._benchmarks.record, device_id, report)
                elif kind == "hello":
                    raise InvalidArgument("Hello is sent once, as the first message of a stream")
                else:
                    raise InvalidArgument("empty agent message")
            queue.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed to the writer, which ends the stream with the right status
            queue.put_nowait(exc)

    async def stop(self) -> None:
        """Stop the status writer (queued statuses are answered UNAVAILABLE: their streams are ending)."""
        await self._statuses.stop()

    @translate_errors
    async def RenewCertificate(
        self, request: control_pb2.RenewCertificateRequest, context: Ctx
    ) -> control_pb2.RenewCertificateResponse:
        device = await self._auth.device(context)
        pem = await asyncio.to_thread(self._identity.renew_certificate, device.device_id, request.csr_pem)
        return control_pb2.RenewCertificateResponse(certificate_pem=pem)

    @translate_errors
    async def FetchArtifact(  # type: ignore[override]  # grpc.aio: a stream written with context.write
        self, request: control_pb2.FetchArtifactRequest, context: Ctx
    ) -> None:
        """Written chunk by chunk (``context.write``), each while holding one of the transfer slots (see
        ``transfers``), so a deploy to the whole fleet holds a bounded number of chunks at once."""
        caller = await self._auth.device(context)
        sha256 = request.sha256.lower()
        path = self._artifacts.path(sha256)  # a malformed id is refused here
        device = await asyncio.to_thread(self._devices.get, caller.device_id)  # fresh: the desired state now
        await authorise_artifact(self._deployments, self._benchmarks, device, sha256)
        if not path.is_file():
            raise NotFound(f"no artifact {sha256[:64]}")
        size = path.stat().st_size
        offset = request.offset
        if offset > size:
            raise OutOfRange(f"offset {offset} is past the end of the artifact ({size} bytes)")
        chunk = min(max(request.max_chunk_bytes or DEFAULT_CHUNK, 4096), MAX_CHUNK)
        what = f"artifact {sha256[:12]} to {caller.device_id}"
        with path.open("rb") as fh:
            fh.seek(offset)
            while offset < size:
                sent = await self._transfers.send(
                    functools.partial(self._send_chunk, context, fh, offset, chunk, size), what
                )
                if not sent:
                    break
                offset += sent

    async def _send_chunk(self, context: Ctx, fh: BinaryIO, offset: int, chunk: int, size: int) -> int:
        """Read and write one chunk (in a transfer slot); the bytes sent, 0 at the end of the file."""
        data = await asyncio.to_thread(fh.read, chunk)
        if data:
            await context.write(control_pb2.ArtifactChunk(offset=offset, data=data, total_size=size))
            if self._metrics is not None:
                self._metrics.artifact_bytes.inc(len(data))
        return len(data)
