"""Desired state: which devices a target names, and what each should run (with its signed bundle)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from edgefleet.core.errors import NotFound
from edgefleet.orchestrator.fleet.model import Desired, DeviceRecord
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.rollout.model import Event
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.resolver import VariantResolver
from edgefleet.orchestrator.store.base import Store
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["Assignment", "DeploymentService"]


@dataclass(frozen=True, slots=True)
class Assignment:
    device_id: str
    profile: str
    desired: Desired


class DeploymentService:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        profiles: ProfileRegistry,
        resolver: VariantResolver,
        bundles: BundleService,
        trial_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._store = store
        self._devices = devices
        self._profiles = profiles
        self._resolver = resolver
        self._bundles = bundles
        self._trial_seconds = trial_seconds

    def artifacts_for(self, device: DeviceRecord) -> frozenset[str]:
        """What the device may download: the artifacts of its desired state (benchmark jobs add theirs)."""
        return frozenset({device.desired.bundle_sha256} if device.desired is not None else ())

    def targets(
        self, profiles: Sequence[str], device_ids: Sequence[str], labels: Mapping[str, str] | None = None
    ) -> list[DeviceRecord]:
        """Devices named, or of the profiles, or all; of those, the ones carrying every label in ``labels``.
        Revoked devices are never targets."""
        if device_ids:
            devices = [self._devices.get(d) for d in device_ids]
        else:
            for p in profiles:
                self._profiles.get(p)
            pool = self._store.list_devices()
            devices = [d for d in pool if not profiles or d.profile in profiles]
        wanted = dict(labels or {})
        return [d for d in devices if not d.revoked and wanted.items() <= d.labels.items()]

    def deploy(
        self,
        *,
        model: str,
        profiles: Sequence[str] = (),
        device_ids: Sequence[str] = (),
        variant_id: str = "",
        objective: str = "min-energy",
        reason: str = "",
        trial_seconds: float | None = None,
        labels: Mapping[str, str] | None = None,
        force: bool = False,
    ) -> list[Assignment]:
        """Set each targeted device's desired variant (a new generation each), and record the deploy."""
        devices = self.targets(profiles, device_ids, labels)
        if not devices:
            raise NotFound("no enrolled device matches the target")
        chosen = {
            profile: self._resolver.resolve(
                model, profile, variant_id=variant_id, objective=objective, force=force
            )
            for profile in sorted({d.profile for d in devices})
        }
        why = reason or f"deploy {model}"
        out = [self.assign(d, chosen[d.profile].card, why, trial_seconds=trial_seconds) for d in devices]
        for profile, resolved in chosen.items():
            count = sum(a.profile == profile for a in out)
            forced = bool(resolved.overridden)
            self._store.add_event(
                Event(
                    kind="deploy.forced" if forced else "deploy.manual",
                    message=f"{resolved.card.short_id} ({resolved.card.base_name} {resolved.card.recipe}) "
                    f"to {count} {profile} device(s)"
                    + (" despite: " + "; ".join(resolved.overridden) if forced else ""),
                    time=self._clock(),
                    model=model,
                    profile=profile,
                    variant_id=resolved.card.variant_id,
                    rule="deploy.forced" if forced else "deploy.manual",
                    details={
                        "devices": [a.device_id for a in out if a.profile == profile],
                        "generation": {
                            a.device_id: a.desired.generation for a in out if a.profile == profile
                        },
                        "overridden": list(resolved.overridden),
                        "target": {
                            "profiles": list(profiles),
                            "device_ids": list(device_ids),
                            "labels": dict(labels or {}),
                        },
                    },
                )
            )
        return out

    def assign(
        self, device: DeviceRecord, card: VariantCard, reason: str, *, trial_seconds: float | None = None
    ) -> Assignment:
        """A new desired state, always with a new generation: a deploy or rollout acts now, even with the
        variant the device already runs (it acknowledges without reinstalling) or one it failed before (it
        tries again); its deployment status starts afresh."""
        bundle = self._bundles.ensure(card.variant_id)
        desired = Desired(
            generation=0,  # set from the stored record below
            variant_id=card.variant_id,
            model=card.model,
            recipe=card.recipe,
            base_name=card.base_name,
            bundle_sha256=bundle.sha256,
            bundle_size=bundle.size,
            signature=bundle.signature,
            key_id=bundle.key_id,
            reason=reason,
            trial_seconds=trial_seconds or self._trial_seconds,
            runtime=self._profiles.get(device.profile).runtime,
        )

        def step(d: DeviceRecord) -> DeviceRecord:
            generation = (d.desired.generation if d.desired else 0) + 1
            return replace(
                d, desired=replace(desired, generation=generation), phase="", phase_reason="", phase_fault=""
            )

        stored = self._store.update_device(device.device_id, step)
        assert stored.desired is not None
        return Assignment(device.device_id, device.profile, stored.desired)
