"""Wiring and lifecycle of ``edgefleet serve``: one asyncio process, one grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from prometheus_client import CollectorRegistry

from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.security import CertificateAuthority, load_server_tls
from edgefleet.orchestrator.server.admin import FleetAdminServicer
from edgefleet.orchestrator.server.auth import AdminAuth, DeviceAuth
from edgefleet.orchestrator.server.control import FleetControlServicer
from edgefleet.orchestrator.server.ingest import TelemetryIngest
from edgefleet.orchestrator.server.limits import raise_open_file_limit
from edgefleet.orchestrator.server.sessions import Sessions
from edgefleet.orchestrator.server.wire_guard import MalformedRequests
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.fleet import Assignment, FleetService
from edgefleet.orchestrator.service.plans import PlanService, StoreBlocks
from edgefleet.orchestrator.service.rollouts import RolloutService
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store import SqliteStore, Store
from edgefleet.orchestrator.wire.fleet import desired_to_pb
from edgefleet.v1 import admin_pb2, admin_pb2_grpc, control_pb2, control_pb2_grpc

__all__ = ["OrchestratorServer", "Services", "open_services", "run_server"]

log = logging.getLogger("edgefleet.server")

#: Calls that reached the server and wait for its event loop to pick them up (the aio server takes one at
#: a time). grpc's defaults, 1,000 soft and 3,000 hard, cancel new calls at random beyond 1,000 before any
#: handler runs (GRPC_TRACE=call_error: "CancelWithError SVR CANCELLED"): a burst of a few thousand agents
#: connecting at once (after a restart, say) lost hundreds of streams that way.
MAX_PENDING_CALLS = 50_000
#: How long a call may wait there before grpc cancels it (default 30 s, then "CancelWithError SVR
#: CANCELLED" on the thread that asks for the next call). A deploy to 10,000 agents starts 10,000 downloads at
#: once; the loop picks them up one per iteration, and garbage collection (1-2 s pauses with a million live
#: objects) and store reads stall it: thousands of downloads were cancelled after 30 s, each a failed
#: deployment on its device. Waiting is better than failing; real overload still ends in a refusal.
MAX_UNREQUESTED_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Services:
    store: Store
    artifacts: ArtifactStore
    signer: Signer
    variants: VariantService
    plans: PlanService
    fleet: FleetService
    telemetry: TelemetryService
    rollouts: RolloutService

    def close(self) -> None:
        self.store.close()


def open_services(config: ServerConfig) -> Services:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(config.db_path)
    artifacts = ArtifactStore(config.data_dir)
    signer = Signer.load_or_create(config.data_dir / "keys")
    ca = None if config.insecure else CertificateAuthority.load(config.tls_path)
    profiles = ProfileRegistry.load(config.profiles)
    variants = VariantService(store=store, artifacts=artifacts, signer=signer)
    telemetry = TelemetryService(store=store, variants=variants, profiles=profiles)
    plans = PlanService(
        variants=variants, profiles=profiles, measurements=telemetry, blocks=StoreBlocks(store)
    )
    bundles = BundleService(store=store, artifacts=artifacts, signer=signer, variants=variants)
    fleet = FleetService(
        store=store,
        signer=signer,
        variants=variants,
        plans=plans,
        bundles=bundles,
        trial_seconds=config.trial_seconds,
        ca=ca,
        device_cert_days=config.device_cert_days,
    )
    rollouts = RolloutService(store=store, fleet=fleet, plans=plans, variants=variants)
    return Services(store, artifacts, signer, variants, plans, fleet, telemetry, rollouts)


class OrchestratorServer:
    def __init__(self, config: ServerConfig, services: Services) -> None:
        self.config = config
        self.services = services
        self._builds = ThreadPoolExecutor(max_workers=config.build_workers, thread_name_prefix="build")
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
            ("grpc.server_max_unrequested_time_in_server", MAX_UNREQUESTED_SECONDS),
        ]
        self.tls = None if config.insecure else load_server_tls(config.tls_path)
        interceptors: list[grpc.aio.ServerInterceptor] = [MalformedRequests()]
        if self.tls is not None:
            interceptors.append(AdminAuth(self.tls.admin_token))
        self._server = grpc.aio.server(options=options, interceptors=interceptors)
        self._health = HealthServicer()
        self.sessions = Sessions()
        self.metrics = OrchestratorMetrics(CollectorRegistry())
        self.metrics.watch_fleet(services, self.sessions.connected)
        self.metrics_address = ""
        admin = FleetAdminServicer(
            variants=services.variants,
            plans=services.plans,
            fleet=services.fleet,
            telemetry=services.telemetry,
            rollouts=services.rollouts,
            sessions=self.sessions,
            push=self.push,
            build_executor=self._builds,
        )
        admin_pb2_grpc.add_FleetAdminServicer_to_server(admin, self._server)
        self.ingest = TelemetryIngest(
            services.telemetry, max_pending=config.telemetry_queue_batches, metrics=self.metrics
        )
        self.metrics.telemetry_queue.set_function(lambda: self.ingest.pending)
        control = FleetControlServicer(
            fleet=services.fleet,
            telemetry=services.telemetry,
            profiles=services.plans.profiles,
            artifacts=services.artifacts,
            sessions=self.sessions,
            auth=DeviceAuth(services.fleet, mtls=self.tls is not None),
            ingest=self.ingest,
            heartbeat_seconds=config.heartbeat_seconds,
            window_seconds=config.window_seconds,
            canary_seconds=config.canary_seconds,
            metrics=self.metrics,
        )
        control_pb2_grpc.add_FleetControlServicer_to_server(control, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._enable_reflection()
        self.address = ""
        self.api_address = ""
        self._ticker: asyncio.Task[None] | None = None

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
        """Bind and start; returns the bound address (port 0 picks a free port)."""
        self.address = self._bind(self.config.listen, agents=True)
        self.api_address = (
            self._bind(self.config.api_listen, agents=False) if self.config.api_listen else self.address
        )
        if self.tls is None:
            log.warning(
                "INSECURE MODE: plaintext gRPC, no client certificates, device bearer secrets and an open "
                "admin API on %s. For local development only; run `edgefleet certs init` for a fleet.",
                ", ".join(sorted({self.address, self.api_address})),
            )
        await self._server.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        for service in ("edgefleet.v1.FleetAdmin", "edgefleet.v1.FleetControl"):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self.config.bootstrap_token and self.services.fleet.ensure_bootstrap_token(
            self.config.bootstrap_token
        ):
            log.warning("a multi-use bootstrap enrolment token is configured: fine for labs, not for a fleet")
        self.ingest.start()
        self._ticker = asyncio.create_task(self._tick_rollouts())
        if self.config.metrics_listen:
            self.metrics_address = self.metrics.serve(self.config.metrics_listen)
            (self.config.data_dir / "metrics.addr").write_text(self.metrics_address + "\n")
            log.info("metrics on http://%s/metrics", self.metrics_address)
        return self.address

    def _bind(self, listen: str, *, agents: bool) -> str:
        """Agents' port: mTLS (client certificate required). API port: server TLS only, because a
        device has no certificate until it enrols. Both plaintext in insecure mode."""
        host, _, _ = listen.rpartition(":")
        if self.tls is None:
            port = self._server.add_insecure_port(listen)
        else:
            creds = grpc.ssl_server_credentials(
                [(self.tls.key_pem, self.tls.cert_pem)],
                root_certificates=self.tls.ca_pem if agents else None,
                require_client_auth=agents,
            )
            port = self._server.add_secure_port(listen, creds)
        if port == 0:
            raise OSError(f"cannot listen on {listen}")
        return f"{host}:{port}"

    async def _tick_rollouts(self) -> None:
        """Advance running rollouts: analysis and decisions off the loop, desired states pushed on it."""
        while True:
            await asyncio.sleep(self.config.rollout_tick_seconds)
            try:
                assignments = await asyncio.to_thread(self.services.rollouts.tick)
            except Exception:
                log.exception("rollout tick failed; retrying next tick")
                continue
            self.push(assignments)

    def push(self, assignments: Sequence[Assignment]) -> None:
        for a in assignments:
            if a.changed:
                message = control_pb2.OrchestratorMessage(desired_state=desired_to_pb(a.desired))
                self.sessions.push(a.device_id, message)

    async def stop(self, grace: float = 5.0) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        await self.ingest.stop()
        self._builds.shutdown(wait=False, cancel_futures=True)
        self.services.close()

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def run_server(
    config: ServerConfig, *, on_ready: Callable[[OrchestratorServer], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully. ``on_ready`` gets the started server."""
    soft, hard = raise_open_file_limit()
    log.info("open file limit: %d (hard limit %d); each agent stream holds one", soft, hard)
    server = OrchestratorServer(config, open_services(config))
    await server.start()
    log.info(
        "edgefleet orchestrator: agents on %s, API on %s (data in %s)",
        server.address,
        server.api_address,
        config.data_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_ready is not None:
        on_ready(server)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
