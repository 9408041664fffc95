"""Wiring and lifecycle of ``edgefleet serve``: one asyncio process, one grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from prometheus_client import CollectorRegistry

from edgefleet.core.errors import InvalidArgument, Unavailable
from edgefleet.core.grpc_guard import MalformedRequests
from edgefleet.core.metrics import MetricsServer, start_metrics
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.fleet.model import Desired
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.replicas.coordinator import RETENTION
from edgefleet.orchestrator.replicas.notifier import Notifier, open_notifier
from edgefleet.orchestrator.security import load_server_tls
from edgefleet.orchestrator.server.admin import FleetAdminServicer
from edgefleet.orchestrator.server.auth import AdminAuth, DeviceAuth
from edgefleet.orchestrator.server.binding import add_port, check_ports
from edgefleet.orchestrator.server.control import FleetControlServicer
from edgefleet.orchestrator.server.ingest import TelemetryIngest
from edgefleet.orchestrator.server.jobs import JobMessages
from edgefleet.orchestrator.server.limits import raise_open_file_limit, server_options, share_the_gil
from edgefleet.orchestrator.server.origin import PATH, ArtifactOrigin
from edgefleet.orchestrator.server.sessions import Sessions
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.server.transfers import TransferSlots
from edgefleet.orchestrator.server.wiring import Services, open_services, stale_after
from edgefleet.orchestrator.service.deployments import Assignment
from edgefleet.orchestrator.wire.fleet import desired_to_pb
from edgefleet.v1 import admin_pb2, admin_pb2_grpc, control_pb2, control_pb2_grpc

__all__ = ["OrchestratorServer", "Services", "open_services", "run_server"]

log = logging.getLogger("edgefleet.server")

#: Seconds calls in flight get to finish on shutdown (agents' streams end at once: they reconnect).
STOP_GRACE_SECONDS = 1.0


class OrchestratorServer:
    """``notifier``: how replicas tell each other about devices (default: the one that fits the store)."""

    def __init__(self, config: ServerConfig, services: Services, notifier: Notifier | None = None) -> None:
        self.config = config
        self.services = services
        self._builds = ThreadPoolExecutor(max_workers=config.build_workers, thread_name_prefix="build")
        options = server_options(config.max_message_bytes)
        self.tls = None if config.insecure else load_server_tls(config.tls_path)
        interceptors: list[grpc.aio.ServerInterceptor] = [MalformedRequests()]
        if self.tls is not None:
            interceptors.append(AdminAuth(self.tls.admin_token))
        self._server = grpc.aio.server(options=options, interceptors=interceptors)
        self._health = HealthServicer()
        self.sessions = Sessions(stale_after=stale_after(config))
        self.jobs = JobMessages(
            benchmarks=services.benchmarks,
            bundles=services.bundles,
            variants=services.variants,
            plans=services.plans,
        )
        self.streams = Streams(
            sessions=self.sessions,
            replica=services.replica,
            notifier=notifier or open_notifier(config.store_url),
            devices=services.devices,
            identity=services.identity,
            desired_message=self._desired_message,
            jobs=self.jobs,
        )
        self.metrics = OrchestratorMetrics(CollectorRegistry())
        self.metrics.watch_fleet(
            services,
            lambda: set(self.streams.online()),
            streams=lambda: len(self.sessions),
            reporting=self.streams.reports_fleet,
        )
        self.metrics_address = ""
        self._metrics_server: MetricsServer | None = None
        self.origin = (
            ArtifactOrigin(
                artifacts=services.artifacts,
                identity=services.identity,
                devices=services.devices,
                deployments=services.deployments,
                benchmarks=services.benchmarks,
                tls_dir=None if self.tls is None else config.tls_path,
                metrics=self.metrics,
                grace=STOP_GRACE_SECONDS,
            )
            if config.artifact_listen
            else None
        )
        #: Base URL of the artifacts in desired states ("" : FetchArtifact only).
        self.artifact_url = config.artifact_url.rstrip("/")
        admin = FleetAdminServicer(
            variants=services.variants,
            plans=services.plans,
            identity=services.identity,
            devices=services.devices,
            deployments=services.deployments,
            telemetry=services.telemetry,
            rollouts=services.rollouts,
            rollbacks=services.rollbacks,
            benchmarks=services.benchmarks,
            streams=self.streams,
            push=self.push,
            push_job=self.streams.push_job,
            build_executor=self._builds,
        )
        admin_pb2_grpc.add_FleetAdminServicer_to_server(admin, self._server)
        self.ingest = TelemetryIngest(
            services.telemetry, max_pending=config.telemetry_queue_batches, metrics=self.metrics
        )
        self.metrics.telemetry_queue.set_function(lambda: self.ingest.pending)
        slots, timeout = config.artifact_transfer_slots, config.artifact_send_timeout_seconds
        self.transfers = TransferSlots(slots, send_timeout=timeout, metrics=self.metrics)
        self.control = FleetControlServicer(
            identity=services.identity,
            devices=services.devices,
            deployments=services.deployments,
            benchmarks=services.benchmarks,
            job_message=self.jobs.message,
            telemetry=services.telemetry,
            profiles=services.plans.profiles,
            artifacts=services.artifacts,
            streams=self.streams,
            auth=DeviceAuth(services.identity, mtls=self.tls is not None),
            ingest=self.ingest,
            heartbeat_seconds=config.heartbeat_seconds,
            window_seconds=config.window_seconds,
            canary_seconds=config.canary_seconds,
            transfers=self.transfers,
            metrics=self.metrics,
        )
        control_pb2_grpc.add_FleetControlServicer_to_server(self.control, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._enable_reflection()
        self.address = ""
        self.api_address = ""
        self._ticker: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None

    def _enable_reflection(self) -> None:
        try:
            from grpc_reflection.v1alpha import reflection
        except ImportError:  # reflection is optional (orchestrator extra)
            return
        names = (
            admin_pb2.DESCRIPTOR.services_by_name["FleetAdmin"].full_name,
            control_pb2.DESCRIPTOR.services_by_name["FleetControl"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self._server)

    async def start(self) -> str:
        """Bind every port, then serve; returns the agents' address. A port that cannot be bound is an error
        naming it, and whatever was bound is released."""
        try:
            return await self._start()
        except BaseException:
            if self.address:  # gRPC releases a server's ports only once it has started
                await self._server.start()
            await self.stop(grace=0)
            raise

    async def _start(self) -> str:
        check_ports(self.config)
        if self.config.metrics_listen:
            self._metrics_server = start_metrics(self.metrics.registry, self.config.metrics_listen)
            self.metrics_address = self._metrics_server.address
            (self.config.data_dir / "metrics.addr").write_text(self.metrics_address + "\n")
            log.info("metrics on http://%s/metrics", self.metrics_address)
        self.address = add_port(self._server, self.config.listen, self.tls, agents=True)
        api = self.config.api_listen
        self.api_address = add_port(self._server, api, self.tls, agents=False) if api else self.address
        if self.tls is None:
            log.warning(
                "INSECURE MODE: plaintext gRPC, no client certificates, device bearer secrets and an open "
                "admin API on %s. For local development only; run `edgefleet certs init` for a fleet.",
                ", ".join(sorted({self.address, self.api_address})),
            )
        if self.origin is not None:
            bound = await self.origin.start(self.config.artifact_listen)
            if not self.artifact_url:
                if bound.startswith(("0.0.0.0:", "[::]:", ":::")):
                    raise InvalidArgument(
                        f"artifact_listen {self.config.artifact_listen} is every interface: set artifact_url "
                        "to the URL agents reach this origin at"
                    )
                self.artifact_url = f"{self.origin.scheme}://{bound}{PATH}"
            log.info("artifact origin on %s (agents download from %s)", bound, self.artifact_url)
        await self.streams.start()
        await self._server.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        for service in ("edgefleet.v1.FleetAdmin", "edgefleet.v1.FleetControl"):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self.config.bootstrap_token and self.services.identity.ensure_bootstrap_token(
            self.config.bootstrap_token
        ):
            log.warning("a multi-use bootstrap enrolment token is configured: fine for labs, not for a fleet")
        self.ingest.start()
        self._ticker = asyncio.create_task(self._tick_rollouts())
        if self.config.telemetry_retention_days > 0:
            self._pruner = asyncio.create_task(self._prune_telemetry())
        return self.address

    def _desired_message(self, desired: Desired) -> control_pb2.OrchestratorMessage:
        url = f"{self.artifact_url}/{desired.bundle_sha256}" if self.artifact_url else ""
        return control_pb2.OrchestratorMessage(desired_state=desired_to_pb(desired, url))

    async def _tick_rollouts(self) -> None:
        """Advance running rollouts: analysis and decisions off the loop, desired states pushed on it."""
        while True:
            await asyncio.sleep(self.config.rollout_tick_seconds)
            try:
                assignments = await asyncio.to_thread(self.services.rollouts.tick)
                await asyncio.to_thread(self.services.benchmarks.expire)
            except Exception:
                log.exception("rollout tick failed; retrying next tick")
                continue
            self.push(assignments)

    async def _prune_telemetry(self) -> None:
        """Once an hour, off the loop, on one replica: fold windows older than the retention into hourly
        aggregates."""
        keep = self.config.telemetry_retention_days * 86400.0
        while True:
            try:
                if not await asyncio.to_thread(self.services.replica.lease, RETENTION):
                    await asyncio.sleep(3600)
                    continue
                pruned = await asyncio.to_thread(self.services.store.prune_windows, time.time() - keep)
                if pruned:
                    log.info("telemetry retention: %d window(s) folded into hourly aggregates", pruned)
            except Exception:
                log.exception("telemetry retention failed; retrying in an hour")
            await asyncio.sleep(3600)

    def push(self, assignments: Sequence[Assignment]) -> None:
        """New desired states (stored): to the devices' streams, on whichever replica holds them."""
        self.streams.push(assignments)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Release the ports first (a restart can bind them at once), end the agents' streams (they
        reconnect with backoff), give calls in flight ``grace`` seconds, then close the store."""
        for task in (self._ticker, self._pruner):
            if task is not None:
                task.cancel()
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.close)
            self._metrics_server = None
        await self._health.enter_graceful_shutdown()
        self.sessions.end_all(Unavailable("the orchestrator is shutting down"))
        if self.origin is not None:  # its port closes at once; downloads in flight get ``grace`` too
            await self.origin.stop()
        await self._server.stop(grace)
        await self.streams.stop()  # leases and presence handed over: another replica takes over now
        await self.ingest.stop()
        await self.control.stop()
        self._builds.shutdown(wait=False, cancel_futures=True)
        self.services.close()

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def run_server(
    config: ServerConfig, *, on_ready: Callable[[OrchestratorServer], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully. ``on_ready`` gets the started server."""
    check_ports(config)  # before the store is opened (or migrated): a taken port changes nothing
    soft, hard = raise_open_file_limit()
    log.info("open file limit: %d (hard limit %d); each agent stream holds one", soft, hard)
    share_the_gil()
    server = OrchestratorServer(config, open_services(config))
    await server.start()  # a failed start has released everything
    address, api = server.address, server.api_address
    log.info("edgefleet orchestrator: agents on %s, API on %s (data in %s)", address, api, config.data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(server)
    await stop.wait()
    log.info("shutting down")
    began = time.monotonic()
    await server.stop()
    log.info("stopped in %.2f s", time.monotonic() - began)
