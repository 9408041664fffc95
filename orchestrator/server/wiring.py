"""The services of one orchestrator process, built from its configuration (the composition root): one
replica among those sharing its store (``shared_dir`` holds the CA, keys and artifacts they share)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edgefleet.orchestrator.benchmark.figures import BenchmarkFigures
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.replicas.coordinator import Replica, default_replica_id
from edgefleet.orchestrator.security import CertificateAuthority
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.deployments import DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.identity import IdentityService
from edgefleet.orchestrator.service.plans import CombinedMeasurements, PlanService, StoreBlocks
from edgefleet.orchestrator.service.resolver import VariantResolver
from edgefleet.orchestrator.service.rollbacks import RollbackService
from edgefleet.orchestrator.service.rollout_benchmark import RolloutBenchmarks
from edgefleet.orchestrator.service.rollout_effects import RolloutEffects
from edgefleet.orchestrator.service.rollouts import RolloutService
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store import Store, mask_url, open_store

__all__ = ["Services", "open_services", "stale_after"]

log = logging.getLogger("edgefleet.server")


@dataclass(frozen=True, slots=True)
class Services:
    store: Store
    artifacts: ArtifactStore
    signer: Signer
    variants: VariantService
    plans: PlanService
    bundles: BundleService
    identity: IdentityService
    devices: DeviceService
    deployments: DeploymentService
    telemetry: TelemetryService
    rollouts: RolloutService
    rollbacks: RollbackService
    benchmarks: BenchmarkService
    #: This process among the replicas on the store (presence, leases).
    replica: Replica

    def close(self) -> None:
        self.store.close()


def stale_after(config: ServerConfig) -> float:
    """How long a device's stream may stay quiet before another stream of it may take over."""
    return max(3 * config.heartbeat_seconds, 2.0)


def open_services(config: ServerConfig) -> Services:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(config.store_url)
    log.info("store: %s", mask_url(config.store_url))
    artifacts = ArtifactStore(config.shared_path)
    signer = Signer.load_or_create(config.keys_path)
    replica = Replica(
        store,
        config.replica_id or default_replica_id(),
        lease_seconds=config.lease_seconds,
        stale_after=stale_after(config),
    )
    ca = None if config.insecure else CertificateAuthority.load(config.tls_path)
    profiles = ProfileRegistry.load(config.profiles)
    variants = VariantService(store=store, artifacts=artifacts, signer=signer)
    telemetry = TelemetryService(store=store, variants=variants, profiles=profiles)
    measured = CombinedMeasurements(telemetry, BenchmarkFigures(store=store, profiles=profiles))
    plans = PlanService(
        variants=variants, profiles=profiles, measurements=measured, blocks=StoreBlocks(store)
    )
    bundles = BundleService(store=store, artifacts=artifacts, signer=signer, variants=variants)
    identity = IdentityService(
        store=store, signer=signer, profiles=profiles, ca=ca, device_cert_days=config.device_cert_days
    )
    devices = DeviceService(store=store)
    resolver = VariantResolver(variants=variants, plans=plans)
    deployments = DeploymentService(
        store=store,
        devices=devices,
        profiles=profiles,
        resolver=resolver,
        bundles=bundles,
        trial_seconds=config.trial_seconds,
    )
    effects = RolloutEffects(store=store, devices=devices, deployments=deployments, variants=variants)
    benchmarks = BenchmarkService(store=store, plans=plans, devices=devices, bundles=bundles)
    rollouts = RolloutService(
        store=store,
        devices=devices,
        deployments=deployments,
        plans=plans,
        resolver=resolver,
        effects=effects,
        benchmarks=RolloutBenchmarks(
            benchmarks=benchmarks, resolver=resolver, devices=devices, effects=effects
        ),
        claim=lambda rollout_id: replica.lease(f"rollout/{rollout_id}"),
    )
    rollbacks = RollbackService(store=store, devices=devices, plans=plans, variants=variants, effects=effects)
    return Services(
        store,
        artifacts,
        signer,
        variants,
        plans,
        bundles,
        identity,
        devices,
        deployments,
        telemetry,
        rollouts,
        rollbacks,
        benchmarks,
        replica,
    )
