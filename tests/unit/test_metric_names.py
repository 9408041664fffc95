"""The metric names both processes expose, pinned; and Prometheus naming conventions."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from edgefleet.agent.metrics import AgentMetrics
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.metrics import OrchestratorMetrics
from edgefleet.orchestrator.server.app import open_services

AGENT = {
    "edgefleet_agent_inferences": "counter",
    "edgefleet_agent_inference_latency_seconds": "histogram",
    "edgefleet_agent_energy_joules": "counter",
    "edgefleet_agent_energy_meter_available": "gauge",
    "edgefleet_agent_slot_state": "gauge",
    "edgefleet_agent_outbox_backlog_windows": "gauge",
    "edgefleet_agent_outbox_dropped_windows": "counter",
    "edgefleet_agent_telemetry_disk_full": "gauge",
    "edgefleet_agent_deployment_outcomes": "counter",
    "edgefleet_agent_reconnects": "counter",
    "edgefleet_agent_connected": "gauge",
}
ORCHESTRATOR = {
    "edgefleet_artifact_bytes_served": "counter",
    "edgefleet_telemetry_windows_ingested": "counter",
    "edgefleet_telemetry_windows_rejected": "counter",
    "edgefleet_telemetry_backpressure": "counter",
    "edgefleet_telemetry_queue_batches": "gauge",
    "edgefleet_artifact_chunks_sending": "gauge",
    "edgefleet_artifact_chunks_waited": "counter",
    "edgefleet_artifact_sends_timed_out": "counter",
    "edgefleet_streams_opened": "counter",
    "edgefleet_duplicate_streams_refused": "counter",
    "edgefleet_devices": "gauge",
    "edgefleet_profile_budget": "gauge",
    "edgefleet_device_info": "gauge",
    "edgefleet_connected_streams": "gauge",
    "edgefleet_fleet_reporter": "gauge",
    "edgefleet_energy_per_inference_joules": "gauge",
    "edgefleet_latency_p95_seconds": "gauge",
    "edgefleet_accuracy_ratio": "gauge",
    "edgefleet_inferences": "counter",
    "edgefleet_energy_joules": "counter",
    "edgefleet_energy_saving_ratio": "gauge",
    "edgefleet_rollouts": "gauge",
    "edgefleet_rollout_energy_budget_joules": "gauge",
    "edgefleet_variant_serving_devices": "gauge",
    "edgefleet_rollout_decisions": "counter",
    "edgefleet_rollbacks": "counter",
}
UNITS = ("_seconds", "_joules", "_bytes", "_ratio", "_windows")


def families(registry: CollectorRegistry) -> dict[str, str]:
    text = generate_latest(registry).decode()
    # prometheus_client adds a standard <name>_created series to counters and histograms
    return {f.name: f.type for f in text_string_to_metric_families(text) if not f.name.endswith("_created")}


def check_conventions(found: dict[str, str], text: str) -> None:
    for name, kind in found.items():
        assert name.startswith("edgefleet_"), name
        if kind == "counter":
            assert f"{name}_total" in text, f"counter {name} must be exposed as {name}_total"
        if any(unit in name for unit in ("second", "joule", "byte")):
            assert name.endswith(UNITS) or name.rsplit("_", 1)[-1] in ("served", "seconds", "joules"), name


def test_agent_metric_names() -> None:
    registry = CollectorRegistry()
    m = AgentMetrics(registry)
    m.observe_latencies([1e-4])
    m.energy.labels("estimate:cpu-time", "estimated").inc(0.5)
    m.meter_available.labels("rapl:package-0").set(0)
    m.set_slots([("a", "committed"), ("b", "empty")])
    m.deployment_outcomes.labels("failed", "device").inc()
    found = families(registry)
    assert found == AGENT
    check_conventions(found, generate_latest(registry).decode())


def test_agent_series_carry_the_device_and_profile_once_enrolled() -> None:
    identity: dict[str, str] = {}
    registry = CollectorRegistry()
    m = AgentMetrics(registry, identity=lambda: identity)
    m.observe_latencies([2e-4])
    m.set_slots([("a", "committed")])
    before = list(text_string_to_metric_families(generate_latest(registry).decode()))
    assert all("device" not in s.labels for f in before for s in f.samples)
    identity.update(device="rpi4-0a1b", profile="rpi4")
    after = list(text_string_to_metric_families(generate_latest(registry).decode()))
    samples = [s for f in after for s in f.samples]
    assert samples
    assert all(s.labels["device"] == "rpi4-0a1b" and s.labels["profile"] == "rpi4" for s in samples)
    # the metric's own labels are kept, and the families are the same
    assert {"slot": "a", "state": "committed"}.items() <= next(
        s.labels for s in samples if s.name == "edgefleet_agent_slot_state" and s.value == 1
    ).items()
    assert {f.name for f in after} == {f.name for f in before}


def test_orchestrator_metric_names(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    services = open_services(ServerConfig(data_dir=tmp_path, insecure=True))
    m = OrchestratorMetrics(registry)
    m.watch_fleet(services, set)
    found = families(registry)
    # the per-variant families appear once devices have reported telemetry
    assert found.keys() <= ORCHESTRATOR.keys()
    assert {k: v for k, v in ORCHESTRATOR.items() if k in found} == found
    assert {
        "edgefleet_devices",
        "edgefleet_profile_budget",
        "edgefleet_rollouts",
        "edgefleet_rollbacks",
    } <= found.keys()
    text = generate_latest(registry).decode()
    check_conventions(found, text)
    assert 'edgefleet_devices{profile="rpi4",status="offline"} 0.0' in text
    assert 'edgefleet_profile_budget{budget="max_energy_joules",profile="rpi4"} 0.0002' in text
    services.close()
