"""deploy/ and docker-compose.yml: valid for promtool, and structurally sound. What needs a real tool runs
elsewhere: test_compose.py (docker-compose, the certs permission path), test_systemd_unit.py
(systemd-analyze), test_alert_rules.py (promtool test rules), test_monitoring.py (a real Prometheus)."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO
from tests.helpers.system import system_binary

DEPLOY = REPO / "deploy"
#: The uid and gid of the `edgefleet` user in both images.
IMAGE_UID = 10001


def test_promtool_checks_the_config_and_the_rules() -> None:
    promtool = system_binary("promtool")
    for args in (
        ["check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
        ["check", "rules", str(DEPLOY / "prometheus/alerts.yml")],
    ):
        proc = subprocess.run([promtool, *args], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def test_alert_rules_cover_what_operators_need() -> None:
    assert {r["alert"] for r in alert_rules()} == {
        "EdgefleetOrchestratorDown",
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
        "postgres",
        "orchestrator-2",
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
            assert "profiles" not in services[dep] or services[dep]["profiles"] == svc.get("profiles"), (
                f"{name} depends on {dep}, which only exists with a profile"
            )
    for profile in ("rpi4", "phone", "mcu-gateway"):
        agent = services[f"agent-{profile}"]
        assert agent["command"][agent["command"].index("--profile") + 1] == profile
        assert agent["cpus"]  # limits that suggest the device class
        assert agent["mem_limit"]
    # agents on other machines dial 50051/50052; metrics, Prometheus and Grafana stay on the host
    assert services["orchestrator"]["ports"] == ["50051:50051", "50052:50052", "127.0.0.1:9464:9464"]
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_port = port.rsplit(":", 1)[0]
            assert host_port.startswith("127.0.0.1:") or host_port in ("50051", "50052", "50061", "50062"), (
                name,
                port,
            )
    # Grafana: no anonymous access, the admin password from the environment (required)
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in grafana_env
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    # Prometheus keeps its data in a volume
    assert any(v.endswith(":/prometheus") for v in services["prometheus"]["volumes"])
    # every long-running service restarts; the one-shot does not
    for name, svc in services.items():
        assert svc["restart"] == ("no" if name == "certs" else "unless-stopped"), name
    # agents wait for a healthy orchestrator (the image's HEALTHCHECK)
    for profile in ("rpi4", "phone", "mcu-gateway"):
        assert services[f"agent-{profile}"]["depends_on"]["orchestrator"]["condition"] == "service_healthy"
    # the MCU gateway's image gets TFLite Micro only, not the orchestrator's extra (ai-edge-quantizer)
    assert services["agent-mcu-gateway"]["build"]["args"]["EXTRAS"] == "[micro]"
    # option: PostgreSQL and a second replica, only with `--profile replicas`
    for name in ("postgres", "orchestrator-2"):
        assert services[name]["profiles"] == ["replicas"], name
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["orchestrator-2"]["environment"]["EDGEFLEET_STORE"].startswith(
        "${EDGEFLEET_STORE:-postgresql://"
    )
    assert "EDGEFLEET_STORE" in services["orchestrator"]["environment"]  # passed through when set
    assert not [n for n, s in services.items() if "profiles" not in s and n in ("postgres", "orchestrator-2")]
    # mTLS: the CA is made once by `certs`, the orchestrator waits for it, agents enrol with it
    # as root, handing the data volume to the orchestrator's user (deploy/docker/certs-init.sh, tested in
    # test_compose.py with the same ids)
    assert services["certs"]["entrypoint"] == ["edgefleet-certs-init"]
    assert services["certs"]["user"] == "root"
    assert services["certs"]["environment"]["EDGEFLEET_OWNER"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert "edgefleet certs init" in (DEPLOY / "docker/certs-init.sh").read_text()
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
    # the agents' metrics port is the one their image listens on (not 9100: node_exporter's)
    agent_ports = {
        t.split(":")[1]
        for job in prom["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
        if t.startswith("agent-")
    }
    assert agent_ports == {"9465"}
    assert "EDGEFLEET_AGENT_METRICS_LISTEN=0.0.0.0:9465" in (DEPLOY / "docker/Dockerfile.agent").read_text()
    # the orchestrator-down alert watches the job this config scrapes
    assert "edgefleet-orchestrator" in {job["job_name"] for job in prom["scrape_configs"]}


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


def test_dockerfiles() -> None:
    for dockerfile in (DEPLOY / "docker").glob("Dockerfile.*"):
        text = dockerfile.read_text()
        assert "USER edgefleet" in text
        assert "ENTRYPOINT" in text
        # the same ids in both images: the certs step hands the orchestrator's volume to them
        assert f"--uid {IMAGE_UID} --gid {IMAGE_UID}" in text
        assert f"groupadd --system --gid {IMAGE_UID} edgefleet" in text
        assert "HEALTHCHECK" in text
        assert "/usr/local/lib/edgefleet/healthcheck.py" in text
        assert "COPY deploy/docker/healthcheck.py /usr/local/lib/edgefleet/healthcheck.py" in text
    orchestrator = (DEPLOY / "docker/Dockerfile.orchestrator").read_text()
    assert 'healthcheck.py", "grpc", "localhost:50052"' in orchestrator
    assert "COPY deploy/docker/certs-init.sh /usr/local/bin/edgefleet-certs-init" in orchestrator
    agent = (DEPLOY / "docker/Dockerfile.agent").read_text()
    assert 'healthcheck.py", "http", "http://127.0.0.1:9465/metrics"' in agent


def test_the_mcu_extra_is_tflite_micro_without_the_quantizer() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [r.split(">")[0] for r in extras["micro"]] == ["tflite-micro"]
    assert "edgefleet[micro]" in extras["orchestrator"]
    assert not any(r.startswith("tflite-micro") for r in extras["orchestrator"])  # one place for the pin
    assert any(r.startswith("ai-edge-quantizer") for r in extras["orchestrator"])


def test_example_configs_load() -> None:
    from edgefleet.agent.config import load_agent_config
    from edgefleet.orchestrator.config import load_config

    agent = load_agent_config(DEPLOY / "examples/agent.toml", env={})
    assert agent.metrics_listen == "127.0.0.1:9465"
    assert agent.predict_listen == "unix:/run/edgefleet-agent/predict.sock"
    assert agent.local_socket == Path("/run/edgefleet-agent/inference.sock")
    server = load_config(DEPLOY / "examples/edgefleet.toml", env={})
    assert server.metrics_listen == "127.0.0.1:9464"


def dashboard_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted((DEPLOY / "grafana/dashboards").glob("*.json")):
        doc = json.loads(path.read_text())
        out += [(f"{path.name}: {p['title']}", t["expr"]) for p in doc["panels"] for t in p["targets"]]
        out += [(f"{path.name}: annotation {a['name']}", a["expr"]) for a in doc["annotations"]["list"]]
    return out


def alert_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
    return [(r.get("alert") or r["record"], r["expr"]) for g in groups for r in g["rules"]]


__all__ = ["IMAGE_UID", "Path", "alert_queries", "alert_rules", "dashboard_queries"]
