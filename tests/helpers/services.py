"""Real services over real files in a temporary data directory."""

from __future__ import annotations

from pathlib import Path

from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from edgefleet.orchestrator.registry.signing import Signer
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store import SqliteStore, Store


def open_store(root: Path) -> Store:
    return SqliteStore(root / "edgefleet.sqlite")


def variant_service(root: Path, *, latency_runs: int = 20, store: Store | None = None) -> VariantService:
    return VariantService(
        store=store or open_store(root),
        artifacts=ArtifactStore(root),
        signer=Signer.load_or_create(root / "keys"),
        latency_runs=latency_runs,
    )


def object_count(root: Path) -> int:
    objects = root / "objects"
    return sum(1 for p in objects.rglob("*") if p.is_file()) if objects.exists() else 0
