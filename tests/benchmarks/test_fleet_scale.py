"""Fleet scale: 1,000 simulated agents against one `edgefleet serve` process on this machine.

Prints: time until all are connected, time for a deployment to reach all of them (goal <= 60 s),
telemetry windows ingested per second, the orchestrator's peak RSS and mean CPU.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from pathlib import Path

import psutil
from typer.testing import CliRunner

from orchestrator.cli.app import app
from orchestrator.client import AdminClient
from orchestrator.simulate import Endpoints, simulate
from tests.helpers.processes import orchestrator

AGENTS = 1000
DURATION = 20.0
WINDOW = 5.0


def test_fleet_scale(tmp_path: Path) -> None:
    with orchestrator(tmp_path / "orch", env={"EDGEFLEET_HEARTBEAT_SECONDS": "10"}) as (proc, served):
        build = CliRunner().invoke(
            app,
            [
                "variants",
                "build",
                "--reference",
                "--recipes",
                "fp32,static_wi8_ai8,dynamic_wi8_afp32",
                "--json",
            ],
            env=served.env(),
        )
        assert build.exit_code == 0, build.output
        ps = psutil.Process(proc.pid)
        samples: list[tuple[int, float]] = []
        stop = threading.Event()

        def sample() -> None:
            ps.cpu_percent()
            while not stop.wait(1.0):
                samples.append((ps.memory_info().rss, ps.cpu_percent()))

        threading.Thread(target=sample, daemon=True).start()
        ca_pem = served.ca.read_bytes()
        with AdminClient(served.api, ca_pem=ca_pem, token=served.admin_token()) as api:
            token = api.create_token(uses=AGENTS)[0]

            async def deploy() -> None:
                await asyncio.to_thread(api.deploy, "digits")

            t0 = time.monotonic()
            report = asyncio.run(
                simulate(
                    Endpoints(served.agents, served.api, ca_pem),
                    token,
                    agents=AGENTS,
                    profiles=("rpi4", "phone", "mcu-gateway"),
                    duration_s=DURATION,
                    window_s=WINDOW,
                    deploy=deploy,
                )
            )
            elapsed = time.monotonic() - t0
        stop.set()
    print(f"\nfleet scale: {AGENTS} simulated agents, one orchestrator, {psutil.cpu_count()} cores")
    print(f"  all connected (incl. enrolment)   {report.connected_after_s:6.2f} s")
    print(f"  deployment reached all            {report.committed_after_s:6.2f} s   (goal <= 60 s)")
    print(
        f"  telemetry windows ingested        {report.windows_sent / DURATION:6.0f} /s  ({report.windows_sent} in {DURATION:.0f} s)"
    )
    print(f"  artifact bytes downloaded         {report.artifacts_bytes / 1e6:6.1f} MB")
    print(f"  orchestrator peak RSS             {max(r for r, _ in samples) / 2**20:6.0f} MiB")
    print(f"  orchestrator mean CPU             {statistics.fmean(c for _, c in samples):6.0f} % of one core")
    print(f"  run                               {elapsed:6.1f} s, errors: {len(report.errors)}")
    print(json.dumps({"connected_s": report.connected_after_s, "deployed_s": report.committed_after_s}))
    assert report.errors == []
    assert report.committed == AGENTS
