"""Manual rollback of a profile, and lifting a block (operator actions outside any rollout)."""

from __future__ import annotations

from edgefleet.core.errors import FailedPrecondition, InvalidArgument, NotFound
from edgefleet.orchestrator.service.deployments import Assignment
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.rollout_effects import RolloutEffects
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = ["RollbackService"]


class RollbackService:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        plans: PlanService,
        variants: VariantService,
        effects: RolloutEffects,
    ) -> None:
        self._store = store
        self._devices = devices
        self._plans = plans
        self._variants = variants
        self._effects = effects

    def _previous(self, model: str, device_id: str, current: str, reported: str) -> str:
        """What the device ran before ``current``: the newest rollout that recorded it, else its report."""
        for r in reversed(self._store.list_rollouts(model)):
            before = r.previous.get(device_id, "")
            if before and before != current:
                return before
        return reported

    def manual_rollback(self, model: str, profile: str, reason: str) -> list[Assignment]:
        """Send every device of the profile running ``model`` back to its previous variant; block this one."""
        with self._effects.lock:
            return self._manual_rollback(model, profile, reason)

    def _manual_rollback(self, model: str, profile: str, reason: str) -> list[Assignment]:
        if not reason.strip():
            raise InvalidArgument("a manual rollback needs a reason")
        self._plans.get_profile(profile)
        out = []
        now = self._effects.clock()
        for device in self._devices.list_devices(profile):
            desired = device.desired
            if desired is None or desired.model != model:
                continue
            reported = device.report.previous_variant if device.report else ""
            previous = self._previous(model, device.device_id, desired.variant_id, reported)
            self._store.block(model, profile, desired.variant_id, f"manual rollback: {reason}", now)
            if previous and previous != desired.variant_id:
                out.append(self._effects.assign(device.device_id, previous, f"manual rollback: {reason}"))
            self._effects.event(
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
        self._effects.event(
            "variant.unblocked",
            f"{card.short_id} unblocked on {profile}",
            model=model,
            profile=profile,
            variant_id=card.variant_id,
        )
