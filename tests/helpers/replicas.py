"""Several orchestrator replicas on one PostgreSQL database: the shared directory (CA, signing keys,
artifacts) and the store seeded from a built template, replicas in process, and the environment of
`edgefleet serve` replica processes."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.replicas.notifier import Notifier
from edgefleet.orchestrator.security import init_tls
from edgefleet.orchestrator.server.app import OrchestratorServer, open_services
from edgefleet.orchestrator.store import SqliteStore, open_store
from tests.helpers.postgres import PostgresServer

__all__ = ["replica_env", "replica_in_process", "seed_shared", "shared_database"]


def seed_shared(template: Path, store_url: str, shared: Path) -> None:
    """What replicas share, from a built template (tests/helpers/fleet.build_template): its artifacts and
    signing keys in ``shared`` with a new CA, its families and variants in the store at ``store_url``."""
    shared.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template / "objects", shared / "objects", dirs_exist_ok=True)
    shutil.copytree(template / "keys", shared / "keys", dirs_exist_ok=True)
    if not (shared / "tls" / "ca.key").exists():
        init_tls(shared / "tls", ("127.0.0.1", "localhost"))
    source = SqliteStore(template / "edgefleet.sqlite")
    target = open_store(store_url)
    try:
        for family in source.list_families():
            target.put_family(family)
            target.put_variants(source.list_variants(family.model))
    finally:
        source.close()
        target.close()


def shared_database(pg: PostgresServer, name: str, template: Path, root: Path) -> tuple[str, Path]:
    """A new database (its name starts with ``name``) on the test PostgreSQL server ``pg`` and
    ``root/shared``, both seeded from ``template`` (``seed_shared``); returns (the store URL, the shared
    directory)."""
    url = pg.url(pg.create_database(name))
    shared = root / "shared"
    seed_shared(template, url, shared)
    return url, shared


@asynccontextmanager
async def replica_in_process(
    root: Path,
    name: str,
    *,
    store_url: str,
    shared: Path,
    notifier: Notifier | None = None,
    **config: Any,
) -> AsyncIterator[OrchestratorServer]:
    """One replica (mTLS, the shared CA), its own data directory ``root/name``, free ports."""
    settings = ServerConfig(
        listen="127.0.0.1:0",
        api_listen="127.0.0.1:0",
        data_dir=root / name,
        store=store_url,
        shared_dir=shared,
        replica_id=name,
        metrics_listen="127.0.0.1:0",
        **{
            "trial_seconds": 0.3,
            "heartbeat_seconds": 0.5,
            "rollout_tick_seconds": 0.2,
            "lease_seconds": 2.0,
            **config,
        },
    )
    server = OrchestratorServer(settings, open_services(settings), notifier)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0.2)


def replica_env(store_url: str, shared: Path, name: str, **extra: str) -> dict[str, str]:
    """The environment of an `edgefleet serve` replica process (what a deployment sets)."""
    return {
        "EDGEFLEET_STORE": store_url,
        "EDGEFLEET_SHARED_DIR": str(shared),
        "EDGEFLEET_REPLICA_ID": name,
        **extra,
    }
