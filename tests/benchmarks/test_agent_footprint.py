"""Agent footprint: idle RSS and CPU of `edgefleet-agent run` serving a loaded variant (no workload)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import psutil
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from tests.helpers.processes import agent, orchestrator


def _json(result):  # type: ignore[no-untyped-def]
    import json

    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_agent_footprint(tmp_path: Path) -> None:
    runner = CliRunner()
    with orchestrator(tmp_path / "orch") as (_proc, served):
        env = served.env()
        _json(
            runner.invoke(
                app,
                ["variants", "build", "--reference", "--recipes", "fp32,static_wi8_ai8", "--json"],
                env=env,
            )
        )
        token = _json(runner.invoke(app, ["devices", "token", "--json"], env=env))["token"]
        with agent(served, tmp_path / "rpi4", "rpi4", token) as proc:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                devices = _json(runner.invoke(app, ["devices", "list", "--json"], env=env))
                if devices and devices[0]["online"]:
                    break
                time.sleep(0.5)
            _json(runner.invoke(app, ["deploy", "digits", "--json"], env=env))
            while time.monotonic() < deadline:
                devices = _json(runner.invoke(app, ["devices", "list", "--json"], env=env))
                if devices[0]["phase"] == "committed":
                    break
                time.sleep(0.5)
            time.sleep(3)
            ps = psutil.Process(proc.pid)
            ps.cpu_percent()
            samples = []
            for _ in range(10):
                time.sleep(1.0)
                samples.append((ps.memory_info().rss, ps.cpu_percent()))
    print("\nagent footprint (rpi4 profile, variant loaded, idle; canary every 60 s, heartbeats every 10 s)")
    print(
        f"  RSS {statistics.fmean(r for r, _ in samples) / 2**20:.0f} MiB   CPU {statistics.fmean(c for _, c in samples):.1f} % of one core"
    )
