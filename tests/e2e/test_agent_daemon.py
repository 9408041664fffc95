"""`edgefleet-agent run` checks its command line with typer, then goes on as the lean daemon entry point in
the same process (issue 19 item 4): the running agent has neither typer's pydantic nor rich loaded (they
cost it 11 MiB of resident memory for its whole life), and it is still the process that was started."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from tests.helpers.processes import agent, orchestrator, wait_until

pytestmark = [pytest.mark.e2e]


def test_the_running_agent_is_the_lean_daemon(tmp_path: Path) -> None:
    runner = CliRunner()
    with orchestrator(tmp_path / "orch") as (_proc, served):
        env = served.env()
        made = runner.invoke(app, ["devices", "token", "--json"], env=env)
        assert made.exit_code == 0, made.output
        token = json.loads(made.stdout)["token"]
        with agent(served, tmp_path / "rpi4", "rpi4", token) as proc:

            def online() -> list[dict[str, object]] | None:
                listed = runner.invoke(app, ["devices", "list", "--json"], env=env)
                assert listed.exit_code == 0, listed.output
                devices: list[dict[str, object]] = json.loads(listed.stdout)
                return devices if devices and devices[0]["status"] == "online" else None

            wait_until(online, "the agent enrolled and online")
            assert proc.poll() is None  # the process that was started (exec keeps the pid)
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
    assert b"edgefleet.agent.daemon" in cmdline, cmdline
    assert any(arg.endswith(b"edgefleet-agent") for arg in cmdline), cmdline  # still reads as the agent
    assert "pydantic_core" not in maps


def test_what_the_daemon_imports_leaves_typer_rich_and_pydantic_out() -> None:
    """The pure-Python half of the promise (``maps`` above shows only compiled libraries): importing the
    daemon entry point and everything ``run_agent`` imports loads none of them."""
    code = (
        "import sys, edgefleet.agent.daemon, edgefleet.agent.app\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'typer', 'rich', 'pydantic', 'click'})\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
