"""A real Prometheus (Debian's package) scrapes a running orchestrator and agents.

Every PromQL expression in the dashboards and alert rules must be valid; the dashboards' main
queries must return data; the alert rules must load and evaluate. Then a real breach: a rollout whose
budget the devices exceed makes EdgefleetEnergyBudgetBreach fire, and it stops once the variant is rolled
back (the rules' logic in every case is unit-tested with promtool in test_alert_rules.py).
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
    committed,
    orchestrator_in_process,
    push_desired,
    variant_id,
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
    "edgefleet_variant_serving_devices",
    # agent series carry the device's profile (the per-profile dashboard filters on it)
    'edgefleet_agent_inference_latency_seconds_bucket{profile="rpi4", device=~"rpi4-.+"}',
    'edgefleet_agent_inference_latency_seconds_bucket{profile="mcu-gateway"}',
)
#: Series that exist only while something happens: a rollout is active, a decision or rollback was made.
EVENTFUL = ("decisions", "rollbacks", "rollout_energy_budget")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _alerts(base: str, name: str) -> list[dict[str, Any]]:
    """Active (pending or firing) alerts of that name, as Prometheus evaluates them."""
    return [a for a in _get(base, "/api/v1/alerts")["data"]["alerts"] if a["labels"]["alertname"] == name]


def _query(base: str, expr: str) -> dict[str, Any]:
    expr = expr.replace("$model", ".*").replace("$profile", ".*")  # what Grafana's variables expand to
    try:
        return _get(base, "/api/v1/query", query=expr)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:  # 400 with the parser's message
        return json.loads(exc.read())  # type: ignore[no-any-return]


async def test_prometheus_scrapes_and_every_expression_is_valid(template: Path, tmp_path: Path) -> None:
    binary = system_binary("prometheus")
    # Rollouts are not ticked (analysed) during the test: the breach below stays until it is rolled back by
    # hand, whatever Prometheus's timing.
    async with orchestrator_in_process(
        template, tmp_path, window_seconds=0.5, canary_seconds=1.0, rollout_tick_seconds=3600.0
    ) as server:
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
                    if not any(e in expr or e in name.lower() for e in EVENTFUL)
                    and not _query(base, expr)["data"]["result"]
                ]
                assert not empty, f"dashboard queries with no data: {empty}"
                rules = [r for g in _get(base, "/api/v1/rules")["data"]["groups"] for r in g["rules"]]
                assert len(rules) == len(alert_queries())
                assert all(r["health"] == "ok" for r in rules), rules
                assert not _alerts(base, "EdgefleetEnergyBudgetBreach")  # every variant within its budget

                # A breach: roll another variant out to rpi4 with a budget no variant meets.
                running = a1.slots.active
                assert running is not None
                assert running.variant is not None
                current = running.variant.variant_id
                candidate = next(
                    v
                    for v in (variant_id(server, "w1.0", "fp32"), variant_id(server, "w2.0", "fp32"))
                    if v != current
                )
                rollout, assignments = server.services.rollouts.start(
                    model="digits",
                    profiles=["rpi4"],
                    variants={"rpi4": candidate},
                    overrides={"max_energy_joules": 1e-9, "waves": (1.0,)},
                )
                server.push(assignments)

                def breach_firing() -> bool:
                    return any(
                        a["state"] == "firing" and a["labels"]["variant"] == candidate[:12]
                        for a in _alerts(base, "EdgefleetEnergyBudgetBreach")
                    )

                await wait_for(breach_firing, what="EdgefleetEnergyBudgetBreach firing", timeout=60)
                [alert] = _alerts(base, "EdgefleetEnergyBudgetBreach")
                assert alert["labels"]["profile"] == "rpi4"
                assert "above its budget" in alert["annotations"]["summary"]
                budget = _query(
                    base, f'edgefleet_rollout_energy_budget_joules{{rollout="{rollout.rollout_id}"}}'
                )
                assert [float(s["value"][1]) for s in budget["data"]["result"]] == [1e-9]

                # Rolled back (by hand: rollouts are not analysed here): the device returns to what it ran,
                # the rollout stays active, and the alert stops because nothing runs the variant any more.
                server.push(server.services.rollbacks.manual_rollback("digits", "rpi4", "test: breach"))
                await wait_for(lambda: committed(a1, current), what="rpi4 back on its variant", timeout=60)
                await wait_for(
                    lambda: not _alerts(base, "EdgefleetEnergyBudgetBreach"),
                    what="EdgefleetEnergyBudgetBreach resolved",
                    timeout=60,
                )
                assert server.services.rollouts.get(rollout.rollout_id).state == "running"
            finally:
                prom.terminate()
                prom.wait(timeout=20)
                log.close()
