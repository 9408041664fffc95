"""A real `edgefleet serve` process with the reference family built, shared per test worker."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from orchestrator.cli.app import app
from tests.helpers.processes import orchestrator

runner = CliRunner()


def cli(server: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"EDGEFLEET_SERVER": server, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with orchestrator(tmp_path_factory.mktemp("orch")) as (proc, address):
        yield address
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # graceful shutdown


@pytest.fixture(scope="session")
def built(server: str) -> dict[str, Any]:
    code, out, err = cli(server, "variants", "build", "--reference", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]
