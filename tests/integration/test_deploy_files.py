"""deploy/ and docker-compose.yml: valid for promtool, and structurally sound (no Docker engine here)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import REPO
from tests.helpers.system import system_binary

DEPLOY = REPO / "deploy"


def test_promtool_checks_the_config_and_the_rules() -> None:
    promtool = system_binary("promtool")
    for args in (
        ["check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
        ["check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
    ):
        proc = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alert_rules_cover_what_operators_need() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {
        "EdgefleetEnergyBudgetBreach",
        "EdgefleetAccuracyBelowFloor",
        "EdgefleetRollbackHappened",
        "EdgefleetAgentOffline",
        "EdgefleetOutboxBacklogGrowing",
        "EdgefleetRolloutPausedTooLong",
    }


def test_compose_topology() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {
        "certs",
        "orchestrator",
        "agent-rpi4",
        "agent-phone",
        "agent-mcu-gateway",
        "prometheus",
        "grafana",
    }
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        build = svc.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file(), name
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
    for profile in ("rpi4", "phone", "mcu-gateway"):
        agent = services[f"agent-{profile}"]
        assert agent["command"][agent["command"].index("--profile") + 1] == profile
        assert agent["cpus"]  # limits that suggest the device class
        assert agent["mem_limit"]
    assert services["orchestrator"]["ports"] == ["50051:50051", "50052:50052", "9464:9464"]
    # mTLS: the CA is made once by `certs`, the orchestrator waits for it, agents enrol with it
    assert "edgefleet certs init" in services["certs"]["entrypoint"][-1]
    assert services["orchestrator"]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    for profile in ("rpi4", "phone", "mcu-gateway"):
        command = services[f"agent-{profile}"]["command"]
        assert command[command.index("--ca") + 1] == "/ca/ca.crt"
        assert command[command.index("--enroll-address") + 1] == "orchestrator:50052"
        assert "--insecure" not in command
    # Prometheus scrapes exactly the compose services
    prom = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    targets = {
        t.split(":")[0]
        for job in prom["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    assert targets == {"orchestrator", "agent-rpi4", "agent-phone", "agent-mcu-gateway"}


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/edgefleet.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboards = sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    assert len(dashboards) >= 2
    for path in dashboards:
        doc = json.loads(path.read_text())
        assert doc["uid"].startswith("edgefleet-")
        assert all(
            t["datasource"]["uid"] == "edgefleet-prometheus" for p in doc["panels"] for t in p["targets"]
        )
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["uid"] == "edgefleet-prometheus"


def test_systemd_unit_and_dockerfiles() -> None:
    unit = (DEPLOY / "systemd/edgefleet-agent.service").read_text()
    for needle in ("Restart=on-failure", "StateDirectory=edgefleet-agent", "DynamicUser=yes", "RAPL"):
        assert needle in unit
    for dockerfile in (DEPLOY / "docker").glob("Dockerfile.*"):
        text = dockerfile.read_text()
        assert "USER edgefleet" in text
        assert "ENTRYPOINT" in text


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        doc = json.loads(path.read_text())
        out += [(f"{path.name}: {p['title']}", t["expr"]) for p in doc["panels"] for t in p["targets"]]
        out += [(f"{path.name}: annotation {a['name']}", a["expr"]) for a in doc["annotations"]["list"]]
    return out


def alert_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    return [(r["alert"], r["expr"]) for r in rules]


__all__ = ["Path", "alert_queries", "dashboard_queries"]
