"""Rollouts in waves: start one, advance the running ones (the pure state machine decides; this service
loads what it needs, persists what it decided and returns the assignments to push), operator actions."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, NotFound
from edgefleet.orchestrator.benchmark.model import BenchmarkSettings
from edgefleet.orchestrator.fleet.model import DeviceRecord, WindowRecord
from edgefleet.orchestrator.rollout.machine import Observation, Step, advance, needs_windows, roll_back_all
from edgefleet.orchestrator.rollout.model import (
    ACTIVE,
    DeviceRolloutState,
    Event,
    RolloutRecord,
    RolloutState,
    split_waves,
)
from edgefleet.orchestrator.rollout.policy import OVERRIDABLE, Policy
from edgefleet.orchestrator.service.deployments import Assignment, DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.resolver import VariantResolver
from edgefleet.orchestrator.service.rollout_benchmark import RolloutBenchmarks
from edgefleet.orchestrator.service.rollout_effects import RolloutEffects
from edgefleet.orchestrator.store.base import Store

__all__ = ["RolloutService"]

#: Windows of a device's incumbent (what it ran before the rollout) it is compared with, the newest.
INCUMBENT_WINDOWS = 200


class RolloutService:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        deployments: DeploymentService,
        plans: PlanService,
        resolver: VariantResolver,
        effects: RolloutEffects,
        benchmarks: RolloutBenchmarks,
        claim: Callable[[str], bool] = lambda _rollout_id: True,
    ) -> None:
        #: Takes or renews the lease of a rollout: only its holder advances it (several replicas).
        self._claim = claim
        self._store = store
        self._devices = devices
        self._deployments = deployments
        self._plans = plans
        self._resolver = resolver
        self._effects = effects
        self._benchmarks = benchmarks

    # ---- queries ----
    def get(self, rollout_id: str) -> RolloutRecord:
        r = self._store.get_rollout(rollout_id)
        if r is None:
            raise NotFound(f"no rollout {rollout_id[:64]!r}")
        return r

    def list_rollouts(self, model: str = "") -> list[RolloutRecord]:
        return list(self._store.list_rollouts(model))

    def events(self, **filters: Any) -> list[Event]:
        return list(self._store.list_events(**filters))

    # ---- start ----
    def _policy(self, profile: str, overrides: Mapping[str, Any], objective: str) -> Policy:
        b = self._plans.get_profile(profile).budgets
        base: dict[str, Any] = {
            # savings are proven, not assumed: with the energy objective each device must show one
            "require_saving": objective == "min-energy",
            "max_accuracy_drop": b.max_accuracy_drop,
            "accuracy_floor": b.accuracy_floor,
            "max_energy_joules": b.max_energy_joules,
            "max_latency_p95_seconds": b.max_latency_p95_seconds,
            "energy_measure": b.energy_measure,
        }
        base.update({k: tuple(v) if k == "waves" else v for k, v in overrides.items()})
        return Policy(**base)

    def _new_record(
        self, model: str, devices: list[DeviceRecord], chosen: dict[str, str], policies: dict[str, Policy]
    ) -> RolloutRecord:
        now = self._effects.clock()
        return RolloutRecord(
            rollout_id="ro-" + secrets.token_hex(4),
            model=model,
            policies=policies,
            variants=chosen,
            previous={d.device_id: d.report.active_variant if d.report else "" for d in devices},
            waves=split_waves([d.device_id for d in devices], next(iter(policies.values())).waves),
            wave=0,
            wave_started=now,
            state=RolloutState.RUNNING,
            state_reason="",
            created=now,
            updated=now,
            devices={d.device_id: DeviceRolloutState() for d in devices},
        )

    def _start(
        self,
        *,
        model: str,
        profiles: Sequence[str] = (),
        device_ids: Sequence[str] = (),
        overrides: Mapping[str, Any] | None = None,
        variants: Mapping[str, str] | None = None,
        objective: str = "min-energy",
        labels: Mapping[str, str] | None = None,
        force: bool = False,
        skip_benchmark: bool = False,
        benchmark: BenchmarkSettings | None = None,
        online: frozenset[str] = frozenset(),
    ) -> tuple[RolloutRecord, list[Assignment]]:
        check_name("model", model)
        unknown = set(overrides or {}) - set(OVERRIDABLE)
        if unknown:
            raise InvalidArgument(f"unknown policy setting(s) {sorted(unknown)}; known: {list(OVERRIDABLE)}")
        devices = sorted(self._deployments.targets(profiles, device_ids, labels), key=lambda d: d.device_id)
        if not devices:
            raise NotFound("no enrolled device matches the rollout's target")
        chosen: dict[str, str] = {}
        forced: dict[str, list[str]] = {}
        policies: dict[str, Policy] = {}
        for profile in sorted({d.profile for d in devices}):
            named = (variants or {}).get(profile, "")
            resolved = self._resolver.resolve(
                model, profile, variant_id=named, objective=objective, force=force
            )
            chosen[profile] = resolved.card.variant_id
            if resolved.overridden:
                forced[profile] = list(resolved.overridden)
            policies[profile] = self._policy(profile, overrides or {}, objective)
        r = self._new_record(model, devices, chosen, policies)
        # measure before choosing: with the energy objective, the profiles the plan chooses for
        measure = {
            p: [d for d in devices if d.profile == p]
            for p in chosen
            if objective == "min-energy" and not skip_benchmark and not (variants or {}).get(p)
        }
        if measure:
            jobs = self._benchmarks.begin(model, measure, benchmark or BenchmarkSettings(), online=online)
            r = replace(r, state=RolloutState.BENCHMARKING, benchmarks=jobs)
        for other in self._store.list_rollouts(model, ACTIVE):
            if set(other.devices) & set(r.devices):
                superseded = replace(
                    other,
                    state=RolloutState.ABORTED,
                    state_reason=f"superseded by {r.rollout_id}",
                    updated=r.created,
                )
                self._store.put_rollout(superseded)
                self._benchmarks.cancel(other.benchmarks, f"rollout superseded by {r.rollout_id}")
                self._effects.event(
                    "rollout.superseded", f"{other.rollout_id} superseded by {r.rollout_id}", superseded
                )
        self._store.put_rollout(r)
        self._effects.event(
            "rollout.started",
            f"{len(devices)} device(s) in {len(r.waves)} wave(s)"
            + (f"; measuring candidates for {', '.join(r.benchmarks)} first" if r.benchmarks else ""),
            r,
            rule="rollout.forced" if forced else "rollout.planned",
            details={
                "variants": chosen,
                "waves": r.waves,
                "policy_hash": {p: pol.hash for p, pol in policies.items()},
                "forced_despite": forced,
                "benchmark_jobs": r.benchmarks,
                "target": {
                    "profiles": list(profiles),
                    "device_ids": list(device_ids),
                    "labels": dict(labels or {}),
                },
            },
        )
        if r.state == RolloutState.BENCHMARKING:
            return r, []
        return self._advance(r)

    # ---- the state machine ----
    def _observe(self, r: RolloutRecord) -> dict[str, Observation]:
        """Every device of the rollout; for the judged ones, their windows since they committed and, when
        they ran something else before, that incumbent's windows up to the switch (the newest: while a
        device waits for its wave it goes on measuring its incumbent, closer in time to its candidate)."""
        judged = needs_windows(r)
        devices = self._devices.get_many(list(r.devices))
        out = {}
        for device_id in r.devices:
            windows: tuple[WindowRecord, ...] = ()
            incumbent: tuple[WindowRecord, ...] = ()
            if device_id in judged:
                variant = r.variants[devices[device_id].profile]
                windows = tuple(
                    self._store.windows(device_id=device_id, variant_id=variant, since=judged[device_id])
                )
                previous = r.previous.get(device_id, "")
                if previous and previous != variant:
                    before = self._store.windows(
                        device_id=device_id, variant_id=previous, limit=INCUMBENT_WINDOWS
                    )
                    incumbent = tuple(w for w in before if w.end <= judged[device_id])
            out[device_id] = Observation(devices[device_id], windows, incumbent)
        return out

    def _advance(self, r: RolloutRecord) -> tuple[RolloutRecord, list[Assignment]]:
        """Advance ``r`` while this replica holds its lease (renewed again before the step is applied)."""
        if not self._claim(r.rollout_id):
            return r, []
        step = advance(r, self._observe(r), self._effects.clock())
        return self._effects.apply(step) if self._claim(r.rollout_id) else (r, [])

    def _tick(self) -> list[Assignment]:
        out: list[Assignment] = []
        for r in self._store.list_rollouts(states=(RolloutState.BENCHMARKING,)):
            if self._claim(r.rollout_id):  # concluded by the lease's holder only, like any step
                out += self._after_benchmark(r)[1]
        for r in self._store.list_rollouts(states=(RolloutState.RUNNING,)):
            out += self._advance(r)[1]
        return out

    def _after_benchmark(self, r: RolloutRecord) -> tuple[RolloutRecord, list[Assignment]]:
        """Once every job closed: choose again on what was measured, keep the devices that already run the
        choice out of it, and go on with the rest (or end as kept when none is left)."""
        try:
            concluded = self._benchmarks.conclude(r)
        except (FailedPrecondition, NotFound) as e:
            return self._end(r, RolloutState.ABORTED, f"after the benchmark: {e}")
        if concluded is None:
            return r, []
        r, kept = concluded
        if not r.devices:
            return self._end(r, RolloutState.KEPT, kept)
        return self._advance(r)

    def _end(
        self, r: RolloutRecord, state: RolloutState, reason: str
    ) -> tuple[RolloutRecord, list[Assignment]]:
        now = self._effects.clock()
        r, out = self._effects.apply(Step(replace(r, state=state, state_reason=reason, updated=now)))
        self._effects.event(f"rollout.{state}", reason, r)
        return r, out

    # ---- operator actions ----
    def _control(
        self, rollout_id: str, action: str, reason: str = ""
    ) -> tuple[RolloutRecord, list[Assignment]]:
        if action not in ("pause", "resume", "abort"):
            raise InvalidArgument(f"unknown action {action!r}; use pause, resume or abort")
        r = self.get(rollout_id)
        if r.state not in ACTIVE:
            raise FailedPrecondition(f"rollout {rollout_id} is {r.state}; nothing to {action}")
        if r.state == RolloutState.BENCHMARKING and action != "abort":
            raise FailedPrecondition(
                f"rollout {rollout_id} is measuring its candidates (nothing deployed yet); wait or abort it"
            )
        if action == "abort":
            self._benchmarks.cancel(r.benchmarks, f"rollout {rollout_id} aborted")
        now = self._effects.clock()
        step = Step(r)
        if action == "pause":
            step = Step(replace(r, state=RolloutState.PAUSED, state_reason=reason or "paused by an operator"))
        elif action == "resume":
            step = Step(replace(r, state=RolloutState.RUNNING, state_reason="", wave_started=now))
        else:
            step = roll_back_all(r, f"aborted: {reason or 'by an operator'}", now)
            aborted = replace(
                step.record, state=RolloutState.ABORTED, state_reason=reason or "aborted by an operator"
            )
            step = replace(step, record=aborted)
        r, out = self._effects.apply(replace(step, record=replace(step.record, updated=now)))
        self._effects.event(f"rollout.{action}", r.state_reason or action, r)
        if action == "resume":
            r, out = self._advance(r)
        return r, out

    # ---- serialized entry points ----
    def start(self, **kwargs: Any) -> tuple[RolloutRecord, list[Assignment]]:
        with self._effects.lock:
            return self._start(**kwargs)

    def tick(self) -> list[Assignment]:
        with self._effects.lock:
            return self._tick()

    def control(
        self, rollout_id: str, action: str, reason: str = ""
    ) -> tuple[RolloutRecord, list[Assignment]]:
        with self._effects.lock:
            return self._control(rollout_id, action, reason)
