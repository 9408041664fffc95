from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from edgefleet.core.evalset import EvalSet, load_eval_set
from edgefleet.orchestrator.reference import ReferenceFamily, reference_family
from tests.helpers.postgres import PostgresServer, postgres_server, unavailable_reason

REPO = Path(__file__).resolve().parents[1]

# CI runs the fuzzers on fixed seeds (a red CI is then a regression, not a new random find); locally
# they explore new inputs on every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def family() -> ReferenceFamily:
    return reference_family()


@pytest.fixture(scope="session")
def evalset(family: ReferenceFamily) -> EvalSet:
    return load_eval_set(family.eval_path)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (per xdist worker), started in a temp directory; tests
    needing it are skipped with the reason where it cannot be installed."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as pg:
        yield pg
