"""Telemetry ingest (issue 19): windows stored per second by one `edgefleet serve`, side by side with a bare
SQLite insert of the same rows in the same run.

The orchestrator is the real `edgefleet serve` (mTLS, SQLite store). Simulated agents in worker processes
(each with its own key, certificate and TLS connection) send their windows over the real Connect stream,
one window per TelemetryBatch as an agent does when it keeps up, faster than the goal (agents / window);
the orchestrator acknowledges a window only once it is stored, refuses with back-pressure advice what it
cannot take, and the agents hold back for the advised time. Counted every second: the windows in the
orchestrator's database (by a reader of its own); throughout: health checks on the API port by a probe in
a process of its own.

The floor: the rows the orchestrator stored, read back from its database, inserted with the standard
library's sqlite3 into a fresh database with the same table (schema and indexes copied from the
orchestrator's), in transactions of the same size as the orchestrator's groups, executemany, WAL and
synchronous=NORMAL as the store sets them.

Goal (issue 19): >= 5,000 windows/s stored, health p99 < 100 ms at saturation. Only correctness is asserted
(windows were stored, none twice, none rejected); the figures are printed.
"""

from __future__ import annotations

import math
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from edgefleet.orchestrator.server.ingest import GROUP
from tests.helpers.load import LoadRun, percentile, print_table, problems, run_fleet_load

AGENTS = int(os.environ.get("EDGEFLEET_BENCH_INGEST_AGENTS", "1000"))
#: Seconds between two windows of one agent: AGENTS / WINDOW_S windows/s offered (twice the goal).
WINDOW_S = float(os.environ.get("EDGEFLEET_BENCH_INGEST_WINDOW_S", "0.1"))
DURATION_S = 40.0


def _steady(run: LoadRun) -> tuple[float, float, float, float, float]:
    """(start, end, mean windows/s stored between them, best 5 s windows/s, windows stored per second of
    orchestrator CPU time between them): from 2 s after the first window was stored to the last second
    the count moved."""
    samples = [(t, n) for t, n, _ in run.stored]
    moving = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
    if not moving:
        return math.nan, math.nan, 0.0, 0.0, 0.0
    first = next(i for i in range(len(samples)) if samples[i][0] >= samples[moving[0] - 1][0] + 2.0)
    last = moving[-1]
    (t0, s0), (t1, s1) = samples[first], samples[last]
    best = max(
        (
            (samples[j][1] - samples[i][1]) / (samples[j][0] - samples[i][0])
            for i in range(first, last)
            for j in range(i + 1, last + 1)
            if samples[j][0] - samples[i][0] >= 5.0
        ),
        default=math.nan,
    )
    cpu = run.stored[last][2] - run.stored[first][2]
    return t0, t1, (s1 - s0) / (t1 - t0) if t1 > t0 else math.nan, best, (s1 - s0) / cpu if cpu else math.nan


def _bare_sqlite(database: Path, group: int) -> tuple[int, float]:
    """(rows, rows/s): the windows the orchestrator stored, inserted into a fresh database with the same
    table by the standard library's sqlite3, ``group`` rows per transaction."""
    src = sqlite3.connect(database)
    ddl = [
        sql
        for (sql,) in src.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'windows' AND sql IS NOT NULL ORDER BY type DESC"
        )
    ]
    columns = [r[1] for r in src.execute("PRAGMA table_info(windows)")]
    rows = src.execute(f"SELECT {', '.join(columns)} FROM windows ORDER BY end_time").fetchall()
    src.close()
    insert = f"INSERT INTO windows ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    with tempfile.TemporaryDirectory() as root:
        db = sqlite3.connect(Path(root) / "bare.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for sql in ddl:
            db.execute(sql)
        started = time.perf_counter()
        for i in range(0, len(rows), group):
            db.execute("BEGIN")
            db.executemany(insert, rows[i : i + group])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return len(rows), len(rows) / elapsed


def test_ingest(tmp_path: Path) -> None:
    load = os.getloadavg()[0]
    run = run_fleet_load(
        tmp_path / "ingest",
        agents=AGENTS,
        duration_s=DURATION_S,
        window_s=WINDOW_S,
        processes=2,
        rollout=False,
        count_windows=True,
    )
    t0, t1, rate, best, per_cpu = _steady(run)
    health = run.health_between(t0, t1)
    rows, bare = _bare_sqlite(tmp_path / "ingest" / "orch" / "edgefleet.sqlite", GROUP)
    r = run.report
    print(
        f"\ntelemetry ingest: one `edgefleet serve` (SQLite), {AGENTS:,} simulated mTLS agents in 2 processes, "
        f"one window per batch every {WINDOW_S} s ({AGENTS / WINDOW_S:,.0f} windows/s offered), "
        f"{psutil.cpu_count()} cores shared by all; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print_table(
        [
            "stored windows/s (steady mean / best 5 s)",
            "stored per orchestrator CPU-second",
            "bare sqlite3 insert of the same rows (rows/s)",
            "orchestrator / bare",
            "windows sent / stored / back-pressure refusals",
            "orchestrator CPU s (% of one core)",
            "health p99 / max at saturation (ms)",
            "failed checks",
        ],
        [
            f"| {rate:,.0f} / {best:,.0f} | {per_cpu:,.0f} | {bare:,.0f} ({rows:,} rows, {GROUP} per transaction, "
            f"as the orchestrator's largest group) | {rate / bare:.3f} | {r.windows_sent:,} / "
            f"{run.windows_stored:,.0f} / {run.backpressure:,.0f} | "
            f"{run.cpu_seconds:,.0f} ({100 * run.cpu_seconds / run.elapsed_s:.0f}%) | "
            f"{percentile(health, 0.99) * 1e3:,.0f} / {max(health, default=math.nan) * 1e3:,.0f} | "
            f"{len(run.health_failures)} |"
        ],
    )
    per_second = [
        (b[1] - a[1]) / (b[0] - a[0])
        for a, b in zip(run.stored, run.stored[1:], strict=False)
        if t0 <= a[0] < t1
    ]
    if per_second:
        print(
            f"stored per second over the steady span: median {statistics.median(per_second):,.0f}; "
            f"each second: {' '.join(f'{v:.0f}' for v in per_second)}"
        )
    print(f"reconnects {r.reconnects:,}; {problems(r)}")
    assert run.report.connected == AGENTS, run.report.failures()
    assert rows >= run.windows_stored > 0, (rows, run.windows_stored)  # the counter is read a bit earlier
    assert run.windows_stored <= r.windows_sent  # exactly once: nothing stored that was not sent
    assert run.windows_rejected == 0, run.windows_rejected
