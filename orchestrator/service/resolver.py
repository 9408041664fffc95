"""Which variant goes to a device of a profile: the one answer deploy and rollouts share."""

from __future__ import annotations

from edgefleet.core.errors import FailedPrecondition, InvalidArgument
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["VariantResolver"]


class VariantResolver:
    def __init__(self, *, variants: VariantService, plans: PlanService) -> None:
        self._variants = variants
        self._plans = plans

    def resolve(
        self, model: str, profile: str, *, variant_id: str = "", objective: str = "min-energy"
    ) -> VariantCard:
        """The named variant (it must belong to ``model``), or the plan's choice for the profile; a plan
        with nothing feasible refuses with its summary (never a silent deploy)."""
        if variant_id:
            card = self._variants.get(variant_id)
            if card.model != model:
                raise InvalidArgument(
                    f"variant {card.short_id} belongs to model {card.model!r}, not {model!r}"
                )
            return card
        plan = self._plans.plan(model, [profile], objective)[0]
        if plan.chosen is None:
            raise FailedPrecondition(f"nothing to deploy to {profile}: {plan.summary}")
        return self._variants.get(plan.chosen.variant.variant_id)
