"""The store contract runs on both backends: every test taking ``store`` (or ``store_url``) runs on a SQLite
file and on a fresh database of a real PostgreSQL server that the session starts itself (``pg_server``,
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgefleet.orchestrator.store import Store, open_store
from tests.helpers.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'edgefleet.sqlite'}"
    pg: PostgresServer = request.getfixturevalue("pg_server")
    return pg.url(pg.create_database())


@pytest.fixture
def open_replica(store_url: str) -> Iterator[Callable[[], Store]]:
    """Another store on the same database (another replica); closed at the end."""
    opened: list[Store] = []

    def replica() -> Store:
        opened.append(open_store(store_url))
        return opened[-1]

    yield replica
    for s in opened:
        s.close()


@pytest.fixture
def store(open_replica: Callable[[], Store]) -> Store:
    return open_replica()
