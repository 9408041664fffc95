"""A real Prometheus (Debian's package) scrapes a running orchestrator and agents.

Every PromQL expression in the dashboards and alert rules must be valid; the dashboards' main
queries must return data; the alert rules must load and evaluate.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    orchestrator_in_process,
    push_desired,
    wait_for,
)
from tests.helpers.system import system_binary
from tests.integration.test_deploy_files import DEPLOY, alert_queries, dashboard_queries

pytestmark = pytest.mark.slow

MAIN = (
    "edgefleet_devices",
    "edgefleet_device_info",
    "edgefleet_energy_per_inference_joules",
    "edgefleet_accuracy_ratio",
    "edgefleet_latency_p95_seconds",
    "edgefleet_inferences_total",
    "edgefleet_profile_budget",
    "edgefleet_agent_inference_latency_seconds_bucket",
    "edgefleet_agent_energy_joules_total",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _query(base: str, expr: str) -> dict[str, Any]:
    expr = expr.replace("$model", ".*").replace("$profile", ".*")  # what Grafana's variables expand to
    try:
        return _get(base, "/api/v1/query", query=expr)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:  # 400 with the parser's message
        return json.loads(exc.read())  # type: ignore[no-any-return]


async def test_prometheus_scrapes_and_every_expression_is_valid(template: Path, tmp_path: Path) -> None:
    binary = system_binary("prometheus")
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.5, canary_seconds=1.0) as server:
        token = server.services.identity.create_token(uses=2)[0]
        cfgs = [
            agent_config(server, tmp_path / p, p, token, replay_rate=200.0) for p in ("rpi4", "mcu-gateway")
        ]
        async with agent_in_process(cfgs[0]) as a1, agent_in_process(cfgs[1]) as a2:
            for agent in (a1, a2):
                await wait_for(agent.connected.is_set, what="connection")
            for assignment in server.services.deployments.deploy(model="digits"):
                push_desired(server, assignment)
            targets = [server.metrics_address] + [
                (c.data_dir / "metrics.addr").read_text().strip() for c in cfgs
            ]
            config = {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(DEPLOY / "prometheus/alerts.yml")],
                "scrape_configs": [
                    {"job_name": "edgefleet-orchestrator", "static_configs": [{"targets": targets[:1]}]},
                    {"job_name": "edgefleet-agent", "static_configs": [{"targets": targets[1:]}]},
                ],
            }
            (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            log = (tmp_path / "prometheus.log").open("w")
            prom = subprocess.Popen(  # noqa: ASYNC220 - started once, outlives the event loop's work
                [
                    binary,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:

                def up() -> bool:
                    try:
                        active = _get(base, "/api/v1/targets")["data"]["activeTargets"]
                    except OSError:
                        return False
                    return len(active) == 3 and all(t["health"] == "up" for t in active)

                await wait_for(up, what="all 3 targets up", timeout=60)

                def has_data() -> bool:
                    return all(_query(base, q)["data"]["result"] for q in MAIN)

                await wait_for(has_data, what="the main series", timeout=60)
                await asyncio.sleep(2.5)  # a few more scrapes so rate() has samples
                invalid = []
                for name, expr in dashboard_queries() + alert_queries():
                    reply = _query(base, expr)
                    if reply.get("status") != "success":
                        invalid.append((name, expr, reply.get("error")))
                assert not invalid, invalid
                empty = [
                    name
                    for name, expr in dashboard_queries()
                    if "decisions" not in expr
                    and "rollbacks" not in name.lower()
                    and not _query(base, expr)["data"]["result"]
                ]
                assert not empty, f"dashboard queries with no data: {empty}"
                rules = _get(base, "/api/v1/rules")["data"]["groups"][0]["rules"]
                assert len(rules) == 6
                assert all(r["health"] == "ok" for r in rules), rules
            finally:
                prom.terminate()
                prom.wait(timeout=20)
                log.close()
