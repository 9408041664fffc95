"""A real `edgefleet serve` process with the reference family built, shared per test worker."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from tests.helpers.fleet import build_template
from tests.helpers.processes import Served, orchestrator

runner = CliRunner()


def cli(server: Served | str | None, *args: str) -> tuple[int, str, str]:
    """The CLI against a served orchestrator, a bare address (plaintext), or none."""
    if isinstance(server, str):
        env = {"EDGEFLEET_SERVER": server, "EDGEFLEET_INSECURE": "1"}
    else:
        env = server.env() if server is not None else {}
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with orchestrator(tmp_path_factory.mktemp("orch")) as (proc, served):
        yield served
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # graceful shutdown


@pytest.fixture(scope="session")
def built(server: Served) -> dict[str, Any]:
    code, out, err = cli(server, "variants", "build", "--reference", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An orchestrator data directory with the reference family built; tests copy it (one build per worker)."""
    return build_template(tmp_path_factory.mktemp("orch-template"))
