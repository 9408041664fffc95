"""A simulated fleet over one or several `edgefleet serve` replicas (SQLite, or one PostgreSQL database):
the agents split evenly between the replicas' ports, then a deploy to all and a rollout in two waves
(``load.fleet_steps``), then a steady phase. Sampled every half second: each replica's RSS and CPU time,
PostgreSQL's CPU time (the postmaster and its backends) and the telemetry windows the replicas stored (their
``edgefleet_telemetry_windows_ingested_total``, added up)."""

from __future__ import annotations

import asyncio
import math
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.tools.simulate import Endpoints, SimulationReport, simulate
from tests.helpers.load import SETTINGS, fleet_steps, metric, scrape
from tests.helpers.postgres import PostgresServer
from tests.helpers.processes import Served, orchestrator
from tests.helpers.replicas import replica_env, seed_shared

__all__ = ["ReplicaRun", "run_replica_load"]

WINDOWS = "edgefleet_telemetry_windows_ingested_total"
STREAMS = "edgefleet_streams_opened_total"


@dataclass
class Sample:
    at: float  # monotonic
    rss: list[int]  # per replica
    cpu: list[float]  # per replica, user + system seconds
    db_cpu: float  # PostgreSQL's processes (nan: SQLite)
    windows: float  # stored by all replicas so far


@dataclass
class ReplicaRun:
    label: str
    replicas: int
    report: SimulationReport
    samples: list[Sample]
    #: Streams each replica opened (the agents it held, plus reconnects).
    held: list[float] = field(default_factory=list)
    rollout_states: list[str] = field(default_factory=list)
    steady: tuple[float, float] = (math.nan, math.nan)  # the steady phase (monotonic), after the steps

    def step_s(self, name: str) -> float:
        return next((d.after_s for d in self.report.deployments if d.name == name), math.nan)

    def _at(self, t: float) -> Sample:
        return min(self.samples, key=lambda s: abs(s.at - t))

    def between(self) -> tuple[Sample, Sample]:
        return self._at(self.steady[0]), self._at(self.steady[1])

    @property
    def windows_per_s(self) -> float:
        """Windows stored per second in the steady phase."""
        a, b = self.between()
        return (b.windows - a.windows) / (b.at - a.at) if b.at > a.at else math.nan

    @property
    def cpu_per_window_ms(self) -> float:
        """Replica CPU (all replicas) per window stored in the steady phase, heartbeats and streams
        included."""
        a, b = self.between()
        windows = b.windows - a.windows
        return 1e3 * (sum(b.cpu) - sum(a.cpu)) / windows if windows > 0 else math.nan

    @property
    def db_cpu_per_window_ms(self) -> float:
        a, b = self.between()
        windows = b.windows - a.windows
        return 1e3 * (b.db_cpu - a.db_cpu) / windows if windows > 0 else math.nan

    @property
    def peak_rss(self) -> list[int]:
        return [max(s.rss[i] for s in self.samples) for i in range(self.replicas)]

    @property
    def cpu_s(self) -> list[float]:
        return [self.samples[-1].cpu[i] - self.samples[0].cpu[i] for i in range(self.replicas)]

    @property
    def db_cpu_s(self) -> float:
        return self.samples[-1].db_cpu - self.samples[0].db_cpu

    @property
    def elapsed_s(self) -> float:
        return self.samples[-1].at - self.samples[0].at


def _cpu(ps: psutil.Process) -> float:
    try:
        t = ps.cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


class _Sampler:
    """Every half second, on a thread of its own: the replicas, PostgreSQL and the windows stored."""

    def __init__(self, pids: list[int], metrics: list[str], postmaster: int | None) -> None:
        self.replicas = [psutil.Process(p) for p in pids]
        self.metrics = metrics
        self.postmaster = psutil.Process(postmaster) if postmaster else None
        self._db: dict[int, psutil.Process] = {}
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self.take()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _db_cpu(self) -> float:
        """The postmaster's and its backends' CPU time (backends that exited since are lost: the pools
        keep theirs open, so few are)."""
        if self.postmaster is None:
            return math.nan
        for child in self.postmaster.children(recursive=True):
            self._db.setdefault(child.pid, child)
        return _cpu(self.postmaster) + sum(_cpu(p) for p in self._db.values())

    def _stored(self) -> float:
        return sum(metric(scrape(address), WINDOWS) for address in self.metrics)

    def take(self) -> None:
        self.samples.append(
            Sample(
                time.monotonic(),
                [p.memory_info().rss for p in self.replicas],
                [_cpu(p) for p in self.replicas],
                self._db_cpu(),
                self._stored(),
            )
        )

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.take()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.take()


@contextmanager
def _sqlite_replica(root: Path, template: Path) -> Iterator[list[tuple[int, Served]]]:
    data = root / "orch"
    shutil.copytree(template, data)
    with orchestrator(data, env=SETTINGS) as (proc, served):
        yield [(proc.pid, served)]


@contextmanager
def _pg_replicas(root: Path, template: Path, url: str, n: int) -> Iterator[list[tuple[int, Served]]]:
    shared = root / "shared"
    seed_shared(template, url, shared)
    with ExitStack() as stack:
        out = []
        for i in range(n):
            name = "abcdefgh"[i]
            (root / name).mkdir(parents=True)
            (root / name / "tls").symlink_to(shared / "tls")  # the shared CA
            env = replica_env(url, shared, name, **SETTINGS)
            proc, served = stack.enter_context(orchestrator(root / name, env=env))
            out.append((proc.pid, served))
        yield out


def run_replica_load(
    root: Path,
    template: Path,
    *,
    label: str,
    agents: int,
    window_s: float,
    steady_s: float,
    pg: PostgresServer | None = None,
    replicas: int = 1,
    processes: int = 2,
    timeout_s: float = 900.0,
    step_timeout_s: float = 300.0,
) -> ReplicaRun:
    """``replicas`` on a fresh database of ``pg`` (None: one replica on SQLite), from ``template`` (a
    built data directory: tests/helpers/fleet.build_template); ``agents`` simulated mTLS agents split
    evenly between them, each enrolling through its own replica's API."""
    with ExitStack() as stack:
        if pg is None:
            placed = stack.enter_context(_sqlite_replica(root, template))
            postmaster = None
        else:
            url = pg.url(pg.create_database("bench"))
            placed = stack.enter_context(_pg_replicas(root, template, url, replicas))
            postmaster = int((pg.root / "data" / "postmaster.pid").read_text().split()[0])
        first = placed[0][1]
        ca_pem = first.ca.read_bytes()
        metrics = [(s.data_dir / "metrics.addr").read_text().strip() for _, s in placed]
        api = stack.enter_context(AdminClient(first.api, ca_pem=ca_pem, token=first.admin_token()))
        token = api.create_token(uses=agents + max(10, agents // 20), ttl_seconds=3600)[0]
        time.sleep(1.0)  # settle before the first sample
        sampler = _Sampler([pid for pid, _ in placed], metrics, postmaster)
        t0 = time.monotonic()
        report = asyncio.run(
            simulate(
                [Endpoints(s.agents, s.api, ca_pem) for _, s in placed],
                token,
                agents=agents,
                profiles=("rpi4", "phone", "mcu-gateway"),
                duration_s=steady_s,
                window_s=window_s,
                steps=fleet_steps(api),
                processes=max(processes, len(placed)),
                timeout_s=timeout_s,
                deploy_timeout_s=step_timeout_s,
            )
        )
        sampler.stop()
        run = ReplicaRun(label, len(placed), report, sampler.samples)
        run.held = [metric(scrape(m), STREAMS) for m in metrics]
        run.rollout_states = [r.state for r in api.list_rollouts("digits")]
    # the steady phase: from the end of the last step (each step begins 0.3 s after the previous one
    # ended; one that did not reach every agent ended at its timeout) for steady_s, less a second at each end
    took = [step_timeout_s if math.isnan(d.after_s) else d.after_s for d in report.deployments]
    end_steps = t0 + report.connected_after_s + sum(0.3 + s for s in took)
    run.steady = (end_steps + 1.0, end_steps + steady_s - 1.0)
    return run
