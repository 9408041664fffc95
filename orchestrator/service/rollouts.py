"""Rollouts in waves: deploy, watch, analyse every window, promote, pause or roll back, and record why."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, NotFound
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.rollout.model import ACTIVE, DeviceRolloutState, Event, RolloutRecord
from edgefleet.orchestrator.rollout.policy import Policy
from edgefleet.orchestrator.service.fleet import Assignment, FleetService
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = ["RolloutService"]

_OVERRIDABLE = (
    "accuracy_floor",
    "max_energy_joules",
    "max_latency_p95_seconds",
    "waves",
    "bake_seconds",
    "max_failing_share",
    "pause_after_seconds",
)


def _waves(device_ids: list[str], fractions: Sequence[float]) -> list[list[str]]:
    groups: list[list[str]] = []
    done = 0
    for fraction in fractions:
        upto = max(1, math.ceil(fraction * len(device_ids))) if fraction > 0 else 1
        upto = min(upto, len(device_ids))
        if upto > done:
            groups.append(device_ids[done:upto])
            done = upto
    return groups


class RolloutService:
    def __init__(
        self,
        *,
        store: Store,
        fleet: FleetService,
        plans: PlanService,
        variants: VariantService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._fleet = fleet
        self._plans = plans
        self._variants = variants
        self._clock = clock
        #: One writer at a time: ticks, starts and operator actions read-modify-write rollout records.
        self._lock = threading.RLock()

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

    def _event(self, kind: str, message: str, r: RolloutRecord | None = None, **kw: Any) -> None:
        self._store.add_event(
            Event(
                kind=kind,
                message=message,
                time=self._clock(),
                rollout_id=r.rollout_id if r else "",
                model=r.model if r else kw.pop("model", ""),
                **kw,
            )
        )

    # ---- start ----
    def _start_unlocked(
        self,
        *,
        model: str,
        profiles: Sequence[str] = (),
        device_ids: Sequence[str] = (),
        overrides: Mapping[str, Any] | None = None,
        variants: Mapping[str, str] | None = None,
        objective: str = "min-energy",
    ) -> tuple[RolloutRecord, list[Assignment]]:
        check_name("model", model)
        unknown = set(overrides or {}) - set(_OVERRIDABLE)
        if unknown:
            raise InvalidArgument(f"unknown policy setting(s) {sorted(unknown)}; known: {list(_OVERRIDABLE)}")
        devices = sorted(self._fleet.targets(profiles, device_ids), key=lambda d: d.device_id)
        if not devices:
            raise NotFound("no enrolled device matches the rollout's target")
        chosen: dict[str, str] = {}
        policies: dict[str, Policy] = {}
        for profile in sorted({d.profile for d in devices}):
            prof = self._plans.get_profile(profile)
            if variants and profile in variants:
                card = self._variants.get(variants[profile])
                if card.model != model:
                    raise InvalidArgument(f"variant {card.short_id} belongs to {card.model!r}, not {model!r}")
            else:
                plan = self._plans.plan(model, [profile], objective)[0]
                if plan.chosen is None:
                    raise FailedPrecondition(f"not rolling out to {profile}: {plan.summary}")
                card = self._variants.get(plan.chosen.variant.variant_id)
            chosen[profile] = card.variant_id
            b = prof.budgets
            base: dict[str, Any] = {
                "accuracy_floor": b.accuracy_floor,
                "max_energy_joules": b.max_energy_joules,
                "max_latency_p95_seconds": b.max_latency_p95_seconds,
            }
            base.update({k: tuple(v) if k == "waves" else v for k, v in (overrides or {}).items()})
            policies[profile] = Policy(**base)
        now = self._clock()
        r = RolloutRecord(
            rollout_id="ro-" + secrets.token_hex(4),
            model=model,
            policies=policies,
            variants=chosen,
            previous={d.device_id: d.report.active_variant if d.report else "" for d in devices},
            waves=_waves([d.device_id for d in devices], next(iter(policies.values())).waves),
            wave=0,
            wave_started=now,
            state="running",
            state_reason="",
            created=now,
            updated=now,
            devices={d.device_id: DeviceRolloutState() for d in devices},
        )
        for other in self._store.list_rollouts(model, ACTIVE):
            if set(other.devices) & set(r.devices):
                self._store.put_rollout(
                    replace(other, state="aborted", state_reason=f"superseded by {r.rollout_id}", updated=now)
                )
                self._event("rollout.superseded", f"{other.rollout_id} superseded by {r.rollout_id}", other)
        self._store.put_rollout(r)
        self._event(
            "rollout.started",
            f"{len(devices)} device(s) in {len(r.waves)} wave(s)",
            r,
            details={
                "variants": chosen,
                "waves": r.waves,
                "policy_hash": {p: pol.hash for p, pol in policies.items()},
            },
        )
        return self._step(r)

    # ---- the state machine ----
    def _tick_unlocked(self) -> list[Assignment]:
        out: list[Assignment] = []
        for r in self._store.list_rollouts(states=("running",)):
            out += self._step(r)[1]
        return out

    def _assign(self, device: DeviceRecord, variant_id: str, reason: str) -> Assignment:
        return self._fleet.assign(device, self._variants.get(variant_id), reason)

    def _step(self, r: RolloutRecord) -> tuple[RolloutRecord, list[Assignment]]:
        from edgefleet.orchestrator.service.rollout_steps import step

        return step(self, r)

    # ---- operator actions ----
    def _control_unlocked(
        self, rollout_id: str, action: str, reason: str = ""
    ) -> tuple[RolloutRecord, list[Assignment]]:
        from edgefleet.orchestrator.service.rollout_steps import roll_back_all

        r = self.get(rollout_id)
        now = self._clock()
        out: list[Assignment] = []
        if action not in ("pause", "resume", "abort"):
            raise InvalidArgument(f"unknown action {action!r}; use pause, resume or abort")
        if r.state not in ACTIVE:
            raise FailedPrecondition(f"rollout {rollout_id} is {r.state}; nothing to {action}")
        if action == "pause":
            r = replace(r, state="paused", state_reason=reason or "paused by an operator", updated=now)
        elif action == "resume":
            r = replace(r, state="running", state_reason="", wave_started=now, updated=now)
        else:
            r = roll_back_all(self, r, f"aborted: {reason or 'by an operator'}", out)
            r = replace(r, state="aborted", state_reason=reason or "aborted by an operator", updated=now)
        self._store.put_rollout(r)
        self._event(f"rollout.{action}", r.state_reason or action, r)
        if action == "resume":
            r, out = self._step(r)
        return r, out

    def _manual_rollback_unlocked(self, model: str, profile: str, reason: str) -> list[Assignment]:
        """Send every device of the profile running ``model`` back to its previous variant; block this one."""
        if not reason.strip():
            raise InvalidArgument("a manual rollback needs a reason")
        self._plans.get_profile(profile)
        out = []
        now = self._clock()
        for device in self._fleet.list_devices(profile):
            desired = device.desired
            if desired is None or desired.model != model:
                continue
            previous = next(
                (
                    r.previous.get(device.device_id, "")
                    for r in reversed(self.list_rollouts(model))
                    if r.previous.get(device.device_id) not in (None, "", desired.variant_id)
                ),
                "",
            )
            previous = previous or (device.report.previous_variant if device.report else "")
            self._store.block(model, profile, desired.variant_id, f"manual rollback: {reason}", now)
            if previous and previous != desired.variant_id:
                out.append(self._assign(device, previous, f"manual rollback: {reason}"))
            self._event(
                "rollback.manual",
                f"{device.device_id}: back to {previous[:12] or 'nothing'}: {reason}",
                device_id=device.device_id,
                model=model,
                profile=profile,
                variant_id=desired.variant_id,
            )
        if not out:
            raise FailedPrecondition(
                f"no device of profile {profile!r} runs {model!r} with a variant to return to"
            )
        return out

    def unblock(self, model: str, profile: str, variant_id: str) -> None:
        card = self._variants.get(variant_id)
        if not self._store.unblock(model, profile, card.variant_id):
            raise NotFound(f"variant {card.short_id} is not blocked for {model!r} on {profile!r}")
        self._event(
            "variant.unblocked",
            f"{card.short_id} unblocked on {profile}",
            model=model,
            profile=profile,
            variant_id=card.variant_id,
        )

    # ---- serialized entry points ----
    def start(self, **kwargs: Any) -> tuple[RolloutRecord, list[Assignment]]:
        with self._lock:
            return self._start_unlocked(**kwargs)

    def tick(self) -> list[Assignment]:
        with self._lock:
            return self._tick_unlocked()

    def control(
        self, rollout_id: str, action: str, reason: str = ""
    ) -> tuple[RolloutRecord, list[Assignment]]:
        with self._lock:
            return self._control_unlocked(rollout_id, action, reason)

    def manual_rollback(self, model: str, profile: str, reason: str) -> list[Assignment]:
        with self._lock:
            return self._manual_rollback_unlocked(model, profile, reason)
