"""A fleet under load: N simulated mTLS agents against one `edgefleet serve` process, then a deploy to all
and a rollout in two waves, with the orchestrator's RSS and CPU sampled and its health polled throughout
by a probe in a process of its own."""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.tools.simulate import Endpoints, SimulationReport, simulate
from tests.helpers.processes import Served, orchestrator

#: What the load benchmarks' orchestrators (and replicas) run with.
SETTINGS = {"EDGEFLEET_HEARTBEAT_SECONDS": "10", "EDGEFLEET_ROLLOUT_TICK_SECONDS": "1"}
#: Lax budgets (simulated telemetry is synthetic): the rollout's two waves are what is measured.
POLICY = {
    "accuracy_floor": 0.9,
    "max_energy_joules": 1.0,
    "max_latency_p95_seconds": 1.0,
    "waves": [0.1, 1.0],
    "bake_seconds": 2.0,
    # about scale: simulated windows do not prove a saving against the incumbent
    "require_saving": False,
}

# In its own process: in the simulator's, thousands of agents would hold the GIL and the probe would time
# them, not the orchestrator. Prints "monotonic-time latency" or "monotonic-time failed CODE" per check.
PROBE = """
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
ch = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials(open(sys.argv[2], 'rb').read()))
stub = health_pb2_grpc.HealthStub(ch)
while True:
    t0 = time.perf_counter()
    try:
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        print(time.monotonic(), time.perf_counter() - t0, flush=True)
    except grpc.RpcError as exc:
        print(time.monotonic(), 'failed', exc.code().name, flush=True)
    time.sleep(0.25)
"""


@dataclass
class LoadRun:
    agents: int
    report: SimulationReport
    elapsed_s: float
    rollout_states: list[str]
    windows_stored: float
    backpressure: float
    #: The orchestrator before the agents came, when all were connected, and its peak (bytes).
    rss_idle: int = 0
    rss_connected: int = 0
    rss: list[int] = field(default_factory=list)
    cpu_seconds: float = 0.0
    health: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, latency s)
    health_failures: list[str] = field(default_factory=list)
    #: When the simulation started and when all agents were connected (monotonic; nan: they were not).
    started: float = math.nan
    connected_at: float = math.nan
    #: With ``count_windows``: (monotonic time, windows in the database, orchestrator CPU s) every second.
    stored: list[tuple[float, int, float]] = field(default_factory=list)
    windows_rejected: float = 0.0

    @property
    def health_s(self) -> list[float]:
        return [lat for _, lat in self.health]

    def health_between(self, start: float, end: float) -> list[float]:
        return [lat for at, lat in self.health if start <= at < end]

    @property
    def rss_per_agent(self) -> float:
        return (self.rss_connected - self.rss_idle) / self.agents

    @property
    def rss_growth(self) -> float:
        """Mean RSS of the last quarter of the run over the first quarter's."""
        q = max(1, len(self.rss) // 4)
        return statistics.fmean(self.rss[-q:]) / statistics.fmean(self.rss[:q])

    def step_s(self, name: str) -> float:
        return next((d.after_s for d in self.report.deployments if d.name == name), math.nan)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def fleet_steps(
    api: AdminClient, *, deploy: bool = True, rollout: bool = True
) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
    """The simulator's steps: (``deploy``) the reference model to all, then (``rollout``) another variant
    per profile, one its rules allow (a refused one would need --force), in two waves (``POLICY``)."""
    deployed: dict[str, str] = {}

    async def deploy_all() -> None:
        placed = await asyncio.to_thread(api.deploy, "digits")
        deployed.update({profile: variant for _, profile, variant, _ in placed})

    async def roll_out() -> None:
        plans = await asyncio.to_thread(api.plan, "digits", ("rpi4", "phone", "mcu-gateway"))
        variants = {
            p.profile: next(
                c.variant.variant_id
                for c in p.candidates
                if not c.hard_reasons and c.variant.variant_id != deployed.get(p.profile)
            )
            for p in plans
        }
        await asyncio.to_thread(api.start_rollout, "digits", policy=POLICY, variants=variants)

    return [*([("deploy", deploy_all)] if deploy else []), *([("rollout", roll_out)] if rollout else [])]


def metric(text: str, name: str) -> float:
    """A sample's value in Prometheus text (nan when absent)."""
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


class _WindowCounter:
    """Windows in the orchestrator's SQLite database every second, counted by a reader of its own (WAL: it
    never blocks the orchestrator's writes; a /metrics scrape would list every device each time), with the
    orchestrator's CPU time (user + system) at that moment."""

    def __init__(self, database: Path, pid: int) -> None:
        self.samples: list[tuple[float, int, float]] = []
        self._database = database
        self._ps = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = sqlite3.connect(f"file:{self._database}?mode=ro", uri=True, timeout=10)
        try:
            while not self._stop.wait(1.0):
                try:
                    (count,) = db.execute("SELECT count(*) FROM windows").fetchone()
                except sqlite3.Error:
                    continue
                cpu = self._ps.cpu_times()
                self.samples.append((time.monotonic(), int(count), cpu.user + cpu.system))
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class _Sampler:
    """The orchestrator's RSS every half second; its CPU time from start to stop."""

    def __init__(self, pid: int) -> None:
        self.ps = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []  # (monotonic time, RSS)
        self._stop = threading.Event()
        cpu = self.ps.cpu_times()
        self._cpu0 = cpu.user + cpu.system
        self.cpu_seconds = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append((time.monotonic(), self.ps.memory_info().rss))

    def stop(self) -> None:
        cpu = self.ps.cpu_times()
        self.cpu_seconds = cpu.user + cpu.system - self._cpu0
        self._stop.set()
        self._thread.join()


def _build_variants(served: Served) -> None:
    build = CliRunner().invoke(
        app,
        ["variants", "build", "--reference", "--recipes", "fp32,static_wi8_ai8,dynamic_wi8_afp32", "--json"],
        env=served.env(),
    )
    assert build.exit_code == 0, build.output


def run_fleet_load(
    tmp_path: Path,
    *,
    agents: int,
    duration_s: float,
    window_s: float,
    processes: int = 0,
    timeout_s: float = 600.0,
    step_timeout_s: float | None = None,
    deploy: bool = True,
    rollout: bool = True,
    count_windows: bool = False,
) -> LoadRun:
    """Connect ``agents``; then (``deploy``) deploy the reference model to all and (``rollout``) roll
    another variant per profile out in two waves; each step is awaited until it reached every agent.
    ``count_windows``: count the stored windows every second (LoadRun.stored; SQLite store)."""
    with orchestrator(tmp_path / "orch", env=SETTINGS) as (proc, served):
        _build_variants(served)
        ca_pem = served.ca.read_bytes()
        time.sleep(1.0)  # settle after the build before the idle figure
        sampler = _Sampler(proc.pid)
        rss_idle = sampler.ps.memory_info().rss
        with AdminClient(served.api, ca_pem=ca_pem, token=served.admin_token()) as api:
            token = api.create_token(uses=agents + max(10, agents // 20))[0]
            steps = fleet_steps(api, deploy=deploy, rollout=rollout)
            prober = subprocess.Popen(
                [sys.executable, "-c", PROBE, served.api, str(served.ca)], stdout=subprocess.PIPE, text=True
            )
            scraper = (
                _WindowCounter(served.data_dir / "edgefleet.sqlite", proc.pid) if count_windows else None
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
                    steps=steps,
                    processes=processes,
                    timeout_s=timeout_s,
                    deploy_timeout_s=step_timeout_s or max(120.0, agents / 20),
                )
            )
            elapsed = time.monotonic() - t0
            sampler.stop()
            if scraper is not None:
                scraper.stop()
            prober.terminate()
            out, _ = prober.communicate(timeout=10)
            states = [r.state for r in api.list_rollouts("digits")]
        text = scrape((served.data_dir / "metrics.addr").read_text().strip())
    run = LoadRun(
        agents,
        report,
        elapsed,
        states,
        metric(text, "edgefleet_telemetry_windows_ingested_total"),
        metric(text, "edgefleet_telemetry_backpressure_total"),
        rss_idle=rss_idle,
        rss=[rss for _, rss in sampler.samples],
        cpu_seconds=sampler.cpu_seconds,
        started=t0,
        connected_at=t0 + report.connected_after_s,
        stored=scraper.samples if scraper is not None else [],
        windows_rejected=metric(text, "edgefleet_telemetry_windows_rejected_total"),
    )
    connected_at = run.connected_at
    for line in out.splitlines():
        at, _, rest = line.partition(" ")
        if rest.startswith("failed"):
            run.health_failures.append(rest.split()[-1])
        elif rest:
            run.health.append((float(at), float(rest)))
    if not math.isnan(connected_at):  # RSS when all were connected: the first sample after
        run.rss_connected = next((rss for at, rss in sampler.samples if at >= connected_at), 0)
    return run


def print_table(columns: Sequence[str], rows: Iterable[str]) -> None:
    """A markdown table as BENCHMARKS.md has them: the header, its rule, then the rows as formatted."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print(row)


def problems(report: SimulationReport) -> str:
    """What went wrong in a simulation (its failures, its first stream errors), or "ok"."""
    found = report.failures() + [f"stream: {k} x{v}" for k, v in list(report.stream_errors.items())[:5]]
    return "; ".join(found) or "ok"


def scrape(address: str) -> str:
    """The Prometheus text of the metrics endpoint at HOST:PORT."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as response:
        return str(response.read().decode())
