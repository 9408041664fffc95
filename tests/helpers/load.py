"""A fleet under load: N simulated mTLS agents and a rollout in waves against one `edgefleet serve`
process, with the orchestrator's RSS and CPU sampled and its health polled throughout."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.tools.simulate import Endpoints, SimulationReport, simulate
from tests.helpers.processes import orchestrator

POLICY = {
    "accuracy_floor": 0.9,
    "max_energy_joules": 1.0,
    "max_latency_p95_seconds": 1.0,
    "waves": [0.1, 1.0],
    "bake_seconds": 2.0,
}


@dataclass
class LoadRun:
    report: SimulationReport
    elapsed_s: float
    rollout_states: list[str]
    windows_stored: float
    backpressure: float
    rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    health_s: list[float] = field(default_factory=list)
    health_failures: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        """Mean RSS of the last quarter of the run over the first quarter's."""
        q = max(1, len(self.rss) // 4)
        return statistics.fmean(self.rss[-q:]) / statistics.fmean(self.rss[:q])


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def run_fleet_load(tmp_path: Path, *, agents: int, duration_s: float, window_s: float) -> LoadRun:
    env = {"EDGEFLEET_HEARTBEAT_SECONDS": "10", "EDGEFLEET_ROLLOUT_TICK_SECONDS": "1"}
    with orchestrator(tmp_path / "orch", env=env) as (proc, served):
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
        rss: list[int] = []
        cpu: list[float] = []
        health: list[float] = []
        failures: list[str] = []
        stop = threading.Event()
        ca_pem = served.ca.read_bytes()

        def sample() -> None:
            ps.cpu_percent()
            while not stop.wait(1.0):
                rss.append(ps.memory_info().rss)
                cpu.append(ps.cpu_percent())

        # The probe is its own process: in this one the simulator's 1,000 agents would hold the GIL and
        # the probe would time them, not the orchestrator.
        probe_code = (
            "import sys, time, grpc\n"
            "from grpc_health.v1 import health_pb2, health_pb2_grpc\n"
            "ch = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials(open(sys.argv[2], 'rb').read()))\n"
            "stub = health_pb2_grpc.HealthStub(ch)\n"
            "while True:\n"
            "    t0 = time.perf_counter()\n"
            "    try:\n"
            "        stub.Check(health_pb2.HealthCheckRequest(), timeout=5); print(time.perf_counter() - t0, flush=True)\n"
            "    except grpc.RpcError as exc:\n"
            "        print('failed', exc.code().name, flush=True)\n"
            "    time.sleep(0.25)\n"
        )

        threading.Thread(target=sample, daemon=True).start()
        with AdminClient(served.api, ca_pem=ca_pem, token=served.admin_token()) as api:
            token = api.create_token(uses=agents)[0]

            async def rollout() -> None:
                await asyncio.to_thread(api.start_rollout, "digits", policy=POLICY, benchmark=False)

            prober = subprocess.Popen(
                [sys.executable, "-c", probe_code, served.api, str(served.ca)],
                stdout=subprocess.PIPE,
                text=True,
            )
            t0 = time.monotonic()
            report = asyncio.run(
                simulate(
                    Endpoints(served.agents, served.api, ca_pem),
                    token,
                    agents=agents,
                    profiles=("rpi4", "phone", "mcu-gateway"),
                    duration_s=duration_s,
                    window_s=window_s,
                    deploy=rollout,
                )
            )
            elapsed = time.monotonic() - t0
            prober.terminate()
            out, _ = prober.communicate(timeout=10)
            for line in out.splitlines():
                if line.startswith("failed"):
                    failures.append(line.split()[-1])
                elif line.strip():
                    health.append(float(line))
            states = [r.state for r in api.list_rollouts("digits")]
        metrics_address = (served.data_dir / "metrics.addr").read_text().strip()
        text = urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=10).read().decode()
        stop.set()
    return LoadRun(
        report,
        elapsed,
        states,
        _metric(text, "edgefleet_telemetry_windows_ingested_total"),
        _metric(text, "edgefleet_telemetry_backpressure_total"),
        rss,
        cpu,
        health,
        failures,
    )
