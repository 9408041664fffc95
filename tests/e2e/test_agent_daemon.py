"""`edgefleet-agent run` checks its command line with typer, then goes on as the lean daemon entry point in
the same process (issue 19 item 4): the running agent has neither typer's pydantic nor rich loaded (they
cost it 11 MiB of resident memory for its whole life), and it is still the process that was started."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from tests.helpers.processes import agent, orchestrator

pytestmark = [pytest.mark.e2e]


def test_the_running_agent_is_the_lean_daemon(tmp_path: Path) -> None:
    runner = CliRunner()
    with orchestrator(tmp_path / "orch") as (_proc, served):
        env = served.env()
        made = runner.invoke(app, ["devices", "token", "--json"], env=env)
        assert made.exit_code == 0, made.output
        token = json.loads(made.stdout)["token"]
        with agent(served, tmp_path / "rpi4", "rpi4", token) as proc:
            deadline = time.monotonic() + 120
            devices: list[dict[str, object]] = []
            while time.monotonic() < deadline and not (devices and devices[0]["status"] == "online"):
                time.sleep(0.5)
                listed = runner.invoke(app, ["devices", "list", "--json"], env=env)
                assert listed.exit_code == 0, listed.output
                devices = json.loads(listed.stdout)
            assert devices, "the agent never enrolled"
            assert devices[0]["status"] == "online", devices
            assert proc.poll() is None  # the process that was started (exec keeps the pid)
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
    assert b"edgefleet.agent.daemon" in cmdline, cmdline
    assert any(arg.endswith(b"edgefleet-agent") for arg in cmdline), cmdline  # still reads as the agent
    assert "pydantic_core" not in maps
