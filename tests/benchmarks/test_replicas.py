"""Replicas on PostgreSQL (issue 18): one `edgefleet serve` vs two on the same real PostgreSQL, with the
same simulated mTLS fleet (split evenly between the two replicas' ports in the second case), and one on
SQLite as the reference, side by side in one run.

Each row: a fresh database (PostgreSQL started here like the tests do, tests/helpers/postgres.py) seeded
with the same built variants; the agents enrol (through their replica's API) and connect; a deploy to all,
then a rollout of another variant in two waves (10%, then all, after a 2 s bake and the analysis of their
telemetry), each timed until it reached every agent; then a steady phase in which the telemetry windows
stored per second, and the CPU time they cost the replicas and PostgreSQL, are measured. The agents send a
window every ``WINDOW_S`` (5 s: half the 10 s real agents are asked for, so 1,000 agents offer the windows
of 2,000: 200/s). A step that does not reach every agent within ``STEP_S`` is printed as not reached.

Only correctness is asserted (every agent connected; the deploy reached every one; two replicas hold half
the fleet each); times and rates are printed, with ratios to the one-replica row.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import psutil
import pytest

from tests.helpers.fleet import build_template
from tests.helpers.load import print_table, problems
from tests.helpers.postgres import PostgresServer
from tests.helpers.replica_load import ReplicaRun, run_replica_load

AGENTS = int(os.environ.get("EDGEFLEET_BENCH_REPLICA_AGENTS", "1000"))
WINDOW_S = float(os.environ.get("EDGEFLEET_BENCH_REPLICA_WINDOW_S", "5"))
STEADY_S = 20.0
STEP_S = 240.0
MiB = 2**20


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def _ratio(ours: float, base: float) -> str:
    return "-" if math.isnan(ours) or math.isnan(base) or base == 0 else f"{ours / base:.2f}x"


def _row(run: ReplicaRun, base: ReplicaRun, load: float) -> str:
    r = run.report
    held = " / ".join(f"{h:,.0f}" for h in run.held)
    rss = " / ".join(f"{x / MiB:,.0f}" for x in run.peak_rss)
    cpu = " / ".join(f"{c:,.0f} ({100 * c / run.elapsed_s:.0f}%)" for c in run.cpu_s)
    db = (
        "-"
        if math.isnan(run.db_cpu_s)
        else f"{run.db_cpu_s:,.0f} ({100 * run.db_cpu_s / run.elapsed_s:.0f}%)"
    )
    return (
        f"| {run.label} | {r.connected:,} | {held} | {_s(r.connected_after_s)} "
        f"| {_s(run.step_s('deploy'))} ({_ratio(run.step_s('deploy'), base.step_s('deploy'))}) "
        f"| {_s(run.step_s('rollout'))} ({_ratio(run.step_s('rollout'), base.step_s('rollout'))}) "
        f"| {run.windows_per_s:,.0f} ({_ratio(run.windows_per_s, base.windows_per_s)}) "
        f"| {_s(run.cpu_per_window_ms)} | {_s(run.db_cpu_per_window_ms)} | {rss} | {cpu} | {db} "
        f"| {r.reconnects} | {load:.1f} |"
    )


@pytest.mark.timeout(3600)
def test_replicas_on_postgresql(tmp_path: Path, pg_server: PostgresServer) -> None:
    template = build_template(tmp_path / "template")
    rows = (
        ("PostgreSQL, 1 replica", pg_server, 1),
        ("PostgreSQL, 2 replicas", pg_server, 2),
        ("SQLite, 1 replica (reference)", None, 1),
    )
    runs: list[ReplicaRun] = []
    loads: list[float] = []
    for i, (label, pg, n) in enumerate(rows):
        runs.append(
            run_replica_load(
                tmp_path / f"run{i}",
                template,
                label=label,
                agents=AGENTS,
                window_s=WINDOW_S,
                steady_s=STEADY_S,
                pg=pg,
                replicas=n,
                step_timeout_s=STEP_S,
            )
        )
        loads.append(os.getloadavg()[0])
        print(f"\n{label} measured: {_row(runs[-1], runs[0], loads[-1])}", flush=True)
    print(
        f"\nreplicas: {AGENTS:,} simulated mTLS agents (2 simulator processes), a window every {WINDOW_S:g} s "
        f"({AGENTS / WINDOW_S:,.0f} windows/s offered), steady phase {STEADY_S:g} s; "
        f"{psutil.cpu_count()} cores shared by everything here (ratios to the first row)"
    )
    print_table(
        [
            "store, replicas",
            "connected",
            "streams opened per replica",
            "all connected (s, incl. enrolment)",
            "deploy reached all (s)",
            "2-wave rollout reached all (s)",
            "windows stored/s, steady",
            "replica CPU ms per window",
            "PostgreSQL CPU ms per window",
            "RSS peak per replica (MiB)",
            "CPU s per replica (% of one core)",
            "PostgreSQL CPU s (%)",
            "reconnects",
            "load average",
        ],
        (_row(run, runs[0], load) for run, load in zip(runs, loads, strict=True)),
    )
    for run in runs:
        r = run.report
        print(
            f"{run.label}: rollout {', '.join(run.rollout_states)}; windows sent {r.windows_sent:,}, "
            f"acknowledged {r.windows_acked:,}; back-pressure advice {r.backpressure_advice:,}; "
            + problems(r)
        )
    for run in runs:  # correctness only
        assert run.report.connected == AGENTS, (run.label, run.report.failures())
        assert run.report.deployments[0].reached == AGENTS, (run.label, run.report.failures())
        assert all(h >= AGENTS / run.replicas for h in run.held), (run.label, run.held)
