"""Agent metrics on a local /metrics endpoint. The registry is injected (never the global one).

Names follow Prometheus conventions: base units (seconds, joules), ``_total`` for counters.
Label sets are bounded: ``method`` and ``kind`` come from the meter (one per device), ``slot``
is a or b, ``state`` one of five slot states, ``outcome`` one of three, ``fault`` variant, device or
"" (not a fault). Once the device is enrolled every series also carries ``device`` and ``profile``
(constant per process), so dashboards can filter agent series by profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from edgefleet.core.enums import SlotState
from edgefleet.core.metrics import serve_metrics

__all__ = ["LATENCY_BUCKETS", "AgentMetrics"]

#: Inference latency buckets, seconds: 10 µs to 1 s.
LATENCY_BUCKETS = (
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    0.05,
    0.1,
    0.25,
    1.0,
)
SLOT_STATES = tuple(SlotState)


class _IdentityLabels(Collector):
    """Exposes ``inner``'s families with the device's identity labels added to every sample (scrape time)."""

    def __init__(self, inner: CollectorRegistry, identity: Callable[[], Mapping[str, str]]) -> None:
        self._inner = inner
        self._identity = identity

    def collect(self) -> Iterator[Metric]:
        extra = dict(self._identity())
        for family in self._inner.collect():
            if not extra:
                yield family
                continue
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                Sample(s.name, {**extra, **s.labels}, s.value, s.timestamp, s.exemplar, s.native_histogram)
                for s in family.samples
            ]
            yield labelled


class AgentMetrics:
    """The agent's series. ``identity`` returns the constant labels (``device``, ``profile``) once the device
    is enrolled, and nothing before."""

    def __init__(
        self, registry: CollectorRegistry, identity: Callable[[], Mapping[str, str]] | None = None
    ) -> None:
        self.registry = registry
        # The series live in a registry of their own; the injected one exposes them with the identity labels.
        own = CollectorRegistry()
        registry.register(_IdentityLabels(own, identity or dict))
        registry = own
        self.inferences = Counter(
            "edgefleet_agent_inferences", "Inferences run on this device.", registry=registry
        )
        self.latency = Histogram(
            "edgefleet_agent_inference_latency_seconds",
            "Latency of one inference.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.energy = Counter(
            "edgefleet_agent_energy_joules",
            "Energy over closed telemetry windows, by meter.",
            ["method", "kind"],
            registry=registry,
        )
        self.meter_available = Gauge(
            "edgefleet_agent_energy_meter_available",
            "1 when the meter can be read here.",
            ["meter"],
            registry=registry,
        )
        self.slot_state = Gauge(
            "edgefleet_agent_slot_state",
            "1 for the state each model slot is in.",
            ["slot", "state"],
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "edgefleet_agent_outbox_backlog_windows",
            "Telemetry windows not yet acknowledged.",
            registry=registry,
        )
        self.outbox_dropped = Counter(
            "edgefleet_agent_outbox_dropped_windows",
            "Windows dropped (outbox bound reached, or memory bound while the disk refused writes) since "
            "the data directory was created.",
            registry=registry,
        )
        self.telemetry_disk_full = Gauge(
            "edgefleet_agent_telemetry_disk_full",
            "1 while the disk refuses telemetry writes (windows are kept in memory).",
            registry=registry,
        )
        self.deployment_outcomes = Counter(
            "edgefleet_agent_deployment_outcomes",
            "Deployments that ended, by outcome (committed, failed, rolled_back) and whose fault it was.",
            ["outcome", "fault"],
            registry=registry,
        )
        self.reconnects = Counter(
            "edgefleet_agent_reconnects", "Connect streams that ended and were retried.", registry=registry
        )
        self.connected = Gauge("edgefleet_agent_connected", "1 while the stream is up.", registry=registry)

    def observe_latencies(self, latencies: Sequence[float]) -> None:
        self.inferences.inc(len(latencies))
        for seconds in latencies:
            self.latency.observe(seconds)

    def set_slots(self, states: Sequence[tuple[str, str]]) -> None:
        for slot, state in states:
            for s in SLOT_STATES:
                self.slot_state.labels(slot, s).set(1 if s == state else 0)

    def serve(self, listen: str) -> str:
        return serve_metrics(self.registry, listen)
