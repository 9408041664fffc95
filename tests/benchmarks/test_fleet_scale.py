"""Fleet scale: 1,000 simulated mTLS agents and a rollout in waves against one `edgefleet serve` process.

Prints: time until all are connected (each with its own key, certificate and TLS connection), time for
the rollout to reach all of them (goal <= 60 s), telemetry windows stored per second and back-pressure
events, the orchestrator's RSS over the run (bounded: last quarter vs first quarter) and mean CPU, and
health-check latency from a probe polling the API port throughout.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import psutil

from tests.helpers.load import run_fleet_load

AGENTS = 1000


def test_fleet_scale(tmp_path: Path) -> None:
    run = run_fleet_load(tmp_path, agents=AGENTS, duration_s=20.0, window_s=2.0)
    report, lat = run.report, sorted(run.health_s)
    print(f"\nfleet scale: {AGENTS} simulated mTLS agents, a rollout in 2 waves, {psutil.cpu_count()} cores")
    print(f"  all connected (incl. enrolment, own TLS keys)  {report.connected_after_s:6.2f} s")
    print(
        f"  rollout reached all                            {report.committed_after_s:6.2f} s   (goal <= 60 s)"
    )
    print(f"  rollout state at the end                       {', '.join(run.rollout_states)}")
    print(
        f"  telemetry windows sent / stored                {report.windows_sent} / {run.windows_stored:.0f}"
    )
    print(f"  telemetry windows stored per second            {run.windows_stored / run.elapsed_s:6.0f} /s")
    print(f"  back-pressure refusals                         {run.backpressure:.0f}")
    print(f"  artifact bytes downloaded                      {report.artifacts_bytes / 1e6:6.1f} MB")
    print(f"  orchestrator RSS: peak                         {max(run.rss) / 2**20:6.0f} MiB")
    print(f"  orchestrator RSS: last quarter / first quarter {run.rss_growth:6.2f}")
    print(f"  orchestrator mean CPU                          {statistics.fmean(run.cpu):6.0f} % of one core")
    print(
        f"  health checks: {len(lat)} ok, {len(run.health_failures)} failed; p50 {lat[len(lat) // 2] * 1e3:.1f} ms, "
        f"p99 {lat[int(len(lat) * 0.99)] * 1e3:.1f} ms, max {lat[-1] * 1e3:.1f} ms"
    )
    print(
        f"  run                                            {run.elapsed_s:6.1f} s, errors: {len(report.errors)}"
    )
    print(json.dumps({"connected_s": report.connected_after_s, "rollout_all_s": report.committed_after_s}))
    assert report.errors == []
    assert report.committed == AGENTS
    assert run.health_failures == []
