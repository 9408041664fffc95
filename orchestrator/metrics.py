"""Orchestrator metrics. The registry is injected; fleet state is read at scrape time by a collector.

Cardinality at 10,000 devices: ``edgefleet_device_info`` has one series per device (10,000);
``edgefleet_devices`` one per (profile, status) (3 x 3 built in); per-variant series are one per
(model, profile, variant) that devices ran (18 for the reference family on 3 profiles, whatever the
fleet size); rollout series one per state or rule, budgets one per (active rollout, profile);
``edgefleet_variant_serving_devices`` one per (profile, variant) that devices run now. No series is labelled
by window, request or time.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from edgefleet.core.metrics import serve_metrics
from edgefleet.orchestrator.rollout.model import ACTIVE

__all__ = ["FleetCollector", "OrchestratorMetrics"]


class FleetCollector(Collector):
    """``online``: the devices whose stream a live replica holds; ``streams``: the streams open on this
    replica; ``reporting``: whether this replica exports the fleet-wide families (one replica at a time
    does, so Prometheus never counts the fleet twice; the others export only their own figures)."""

    def __init__(
        self,
        services: Any,
        online: Callable[[], set[str]],
        *,
        streams: Callable[[], int] | None = None,
        reporting: Callable[[], bool] = lambda: True,
    ) -> None:
        self._s = services
        self._online = online
        self._streams = streams
        self._reporting = reporting

    def collect(self) -> Iterator[Any]:
        reporting = self._reporting()
        yield GaugeMetricFamily(
            "edgefleet_fleet_reporter",
            "1 on the replica that exports the fleet-wide families now (one at a time), 0 on the others.",
            value=1 if reporting else 0,
        )
        if self._streams is not None:
            here = self._streams()
            yield GaugeMetricFamily(
                "edgefleet_connected_streams", "Agent streams open on this replica.", value=here
            )
        if not reporting:
            return
        s = self._s
        online = self._online()
        if self._streams is None:
            count = len(online)
            yield GaugeMetricFamily("edgefleet_connected_streams", "Agent streams open now.", value=count)
        devices = s.devices.list_devices()
        by_status = GaugeMetricFamily(
            "edgefleet_devices", "Enrolled devices by profile and status.", labels=["profile", "status"]
        )
        info = GaugeMetricFamily(
            "edgefleet_device_info",
            "1 per device: what it runs.",
            labels=["device", "profile", "variant", "recipe", "runtime", "phase"],
        )
        tally: Tally[tuple[str, str]] = Tally()
        serving: Tally[tuple[str, str]] = Tally()
        for d in devices:
            status = "revoked" if d.revoked else "online" if d.device_id in online else "offline"
            tally[(d.profile, status)] += 1
            r = d.report
            if r is not None and r.active_variant and not d.revoked:
                serving[(d.profile, r.active_variant[:12])] += 1
            info.add_metric(
                [
                    d.device_id,
                    d.profile,
                    (r.active_variant[:12] if r else ""),
                    (r.active_recipe if r else ""),
                    (r.runtime_name if r else ""),
                    d.phase,
                ],
                1,
            )
        budgets = GaugeMetricFamily(
            "edgefleet_profile_budget", "Each profile's budgets (base units).", labels=["profile", "budget"]
        )
        for profile in s.plans.profiles.all():
            for status in ("online", "offline", "revoked"):
                by_status.add_metric([profile.name, status], tally.get((profile.name, status), 0))
            b = profile.budgets
            for name, value in (
                ("accuracy_floor", b.accuracy_floor),
                ("max_energy_joules", b.max_energy_joules),
                ("max_latency_p95_seconds", b.max_latency_p95_seconds),
            ):
                budgets.add_metric([profile.name, name], value)
        runs = GaugeMetricFamily(
            "edgefleet_variant_serving_devices",
            "Devices (not revoked) whose last report says they run this variant now.",
            labels=["profile", "variant"],
        )
        for (profile_name, variant), n in sorted(serving.items()):
            runs.add_metric([profile_name, variant], n)
        yield by_status
        yield budgets
        yield info
        yield runs
        yield from self._variants()
        yield from self._rollouts()

    def _variants(self) -> Iterator[Any]:
        """Gauges from the recent windows of each variant (they follow the fleet, so they go up and down);
        counters from the store's cumulative totals (they only ever go up, whatever is pruned)."""
        s = self._s
        labels = ["model", "profile", "variant", "recipe", "kind"]
        energy = GaugeMetricFamily(
            "edgefleet_energy_per_inference_joules",
            "Energy per inference devices measured, by measure: gross (window energy / inferences) or "
            "dynamic (the idle baseline subtracted).",
            labels=[*labels, "measure"],
        )
        latency = GaugeMetricFamily(
            "edgefleet_latency_p95_seconds", "Median of window p95 latencies.", labels=labels
        )
        accuracy = GaugeMetricFamily(
            "edgefleet_accuracy_ratio",
            "Right / distinct scoring-split samples scored on devices.",
            labels=labels,
        )
        saving = GaugeMetricFamily(
            "edgefleet_energy_saving_ratio",
            "Energy per inference of the float32 base of the same width / this variant's, both measured "
            "on the profile under its budget's measure (above 1: the variant saves energy).",
            labels=["model", "profile", "variant", "recipe"],
        )
        for family in s.variants.list_families():
            cards = {c.variant_id: c for c in s.variants.list_variants(family.model)}
            rows = s.telemetry.summary(family.model)
            measured = {(r.profile, r.variant_id): r.energy_j for r in rows if r.windows}
            for r in rows:
                values = [family.model, r.profile, r.variant_id[:12], r.recipe, r.energy_kind]
                for measure, value in (("gross", r.gross_j), ("dynamic", r.dynamic_j)):
                    if value is not None:
                        energy.add_metric([*values, measure], value)
                if r.windows:
                    latency.add_metric(values, r.latency_p95_s)
                if r.scored:
                    accuracy.add_metric(values, r.correct / r.scored)
                card = cards.get(r.variant_id)
                base = next(
                    (
                        c
                        for c in cards.values()
                        if card and c.base_name == card.base_name and c.recipe == "fp32"
                    ),
                    None,
                )
                ours, theirs = (
                    measured.get((r.profile, r.variant_id)),
                    measured.get((r.profile, base.variant_id)) if base else None,
                )
                if ours and theirs:
                    saving.add_metric([family.model, r.profile, r.variant_id[:12], r.recipe], theirs / ours)
        yield from (energy, latency, accuracy, saving)
        yield from self._totals()

    def _totals(self) -> Iterator[Any]:
        labels = ["model", "profile", "variant"]
        inferences = CounterMetricFamily(
            "edgefleet_inferences", "Inferences devices reported.", labels=labels
        )
        joules = CounterMetricFamily(
            "edgefleet_energy",
            "Energy devices reported for their inferences, by measure (gross or dynamic), joules.",
            labels=[*labels, "measure"],
            unit="joules",
        )
        for row in self._s.telemetry.totals():
            values = [row.model, row.profile, row.variant_id[:12]]
            inferences.add_metric(values, row.inferences)
            joules.add_metric([*values, "gross"], row.gross_joules)
            joules.add_metric([*values, "dynamic"], row.dynamic_joules)
        yield inferences
        yield joules

    def _rollouts(self) -> Iterator[Any]:
        s = self._s
        rollouts = s.rollouts.list_rollouts()
        states = Tally(r.state for r in rollouts)
        by_state = GaugeMetricFamily("edgefleet_rollouts", "Rollouts by state.", labels=["state"])
        for state in ("pending", "running", "paused", "succeeded", "rolled_back", "aborted"):
            by_state.add_metric([state], states.get(state, 0))
        yield by_state
        # The budget a rollout judges its variant by (overrides included), while the rollout is active: the
        # energy alert compares the devices' measurements with it.
        budget = GaugeMetricFamily(
            "edgefleet_rollout_energy_budget_joules",
            "Energy per inference budget of each active rollout, per profile and the variant it rolls out.",
            labels=["rollout", "model", "profile", "variant"],
        )
        for r in rollouts:
            if r.state in ACTIVE:
                for profile, policy in sorted(r.policies.items()):
                    variant = r.variants.get(profile, "")[:12]
                    budget.add_metric([r.rollout_id, r.model, profile, variant], policy.max_energy_joules)
        yield budget
        decisions = CounterMetricFamily(
            "edgefleet_rollout_decisions", "Rollback decisions by rule.", labels=["rule"]
        )
        rollbacks = CounterMetricFamily("edgefleet_rollbacks", "Rollbacks by reason.", labels=["reason"])
        counts = s.store.event_counts()
        for (kind, rule), n in sorted(counts.items()):
            if kind == "rollout.decision":
                decisions.add_metric([rule], n)
        rollbacks.add_metric(
            ["automatic"], sum(n for (k, _), n in counts.items() if k == "rollout.rolled_back")
        )
        rollbacks.add_metric(["manual"], sum(n for (k, _), n in counts.items() if k == "rollback.manual"))
        rollbacks.add_metric(["aborted"], sum(n for (k, _), n in counts.items() if k == "rollout.abort"))
        yield decisions
        yield rollbacks


class OrchestratorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.artifact_bytes = Counter(
            "edgefleet_artifact_bytes_served", "Artifact bytes streamed to agents.", registry=registry
        )
        self.windows_ingested = Counter(
            "edgefleet_telemetry_windows_ingested", "Telemetry windows stored.", registry=registry
        )
        self.windows_rejected = Counter(
            "edgefleet_telemetry_windows_rejected",
            "Telemetry windows stored flagged (unsound) or already stored.",
            registry=registry,
        )
        self.telemetry_backpressure = Counter(
            "edgefleet_telemetry_backpressure",
            "Telemetry batches refused with retry advice because the ingest queue was full.",
            registry=registry,
        )
        self.telemetry_queue = Gauge(
            "edgefleet_telemetry_queue_batches", "Telemetry batches waiting to be stored.", registry=registry
        )
        self.artifact_chunks_sending = Gauge(
            "edgefleet_artifact_chunks_sending",
            "FetchArtifact chunks being sent now (at most artifact_transfer_slots).",
            registry=registry,
        )
        self.artifact_chunks_waited = Counter(
            "edgefleet_artifact_chunks_waited",
            "FetchArtifact chunks that waited for a free transfer slot.",
            registry=registry,
        )
        self.artifact_sends_timed_out = Counter(
            "edgefleet_artifact_sends_timed_out",
            "FetchArtifact transfers ended because the device took no chunk within the send timeout.",
            registry=registry,
        )
        self.duplicate_streams = Counter(
            "edgefleet_duplicate_streams_refused",
            "Agent streams refused because the device already had a live one (a cloned identity).",
            registry=registry,
        )
        self.streams_opened = Counter(
            "edgefleet_streams_opened", "Agent Connect streams accepted.", registry=registry
        )

    def watch_fleet(
        self,
        services: Any,
        online: Callable[[], set[str]],
        *,
        streams: Callable[[], int] | None = None,
        reporting: Callable[[], bool] = lambda: True,
    ) -> None:
        self.registry.register(FleetCollector(services, online, streams=streams, reporting=reporting))

    def serve(self, listen: str) -> str:
        return serve_metrics(self.registry, listen)
