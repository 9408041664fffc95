"""Which variant goes to a device of a profile: the one answer deploy and rollouts share."""

from __future__ import annotations

from dataclasses import dataclass

from edgefleet.core.errors import FailedPrecondition, InvalidArgument
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["Resolved", "VariantResolver"]


@dataclass(frozen=True, slots=True)
class Resolved:
    card: VariantCard
    #: Why the plan rejects it (non-empty only when it was forced).
    overridden: tuple[str, ...]


class VariantResolver:
    def __init__(self, *, variants: VariantService, plans: PlanService) -> None:
        self._variants = variants
        self._plans = plans

    def resolve(
        self,
        model: str,
        profile: str,
        *,
        variant_id: str = "",
        objective: str = "min-energy",
        force: bool = False,
    ) -> Resolved:
        """The named variant (it must belong to ``model`` and pass the profile's rules, unless ``force``), or
        the plan's choice for the profile; a plan with nothing feasible refuses with its summary (never a
        silent deploy)."""
        plan = self._plans.plan(model, [profile], objective)[0]
        if variant_id:
            card = self._variants.get(variant_id)
            if card.model != model:
                raise InvalidArgument(
                    f"variant {card.short_id} belongs to model {card.model!r}, not {model!r}"
                )
            candidate = next(c for c in plan.candidates if c.variant.variant_id == card.variant_id)
            reasons = candidate.reasons
            # blocked or impossible needs --force; over a budget is the operator's call (the event says so)
            if candidate.hard_reasons and not force:
                what = f"variant {card.short_id} ({card.base_name} {card.recipe})"
                why = "; ".join(candidate.hard_reasons)
                raise FailedPrecondition(
                    f"{what} does not pass {profile}'s rules: {why}; --force deploys it anyway"
                )
            return Resolved(card, tuple(reasons))
        if plan.chosen is None:
            raise FailedPrecondition(f"nothing to deploy to {profile}: {plan.summary}")
        return Resolved(self._variants.get(plan.chosen.variant.variant_id), ())

    def measured_choice(self, model: str, profile: str, measured: frozenset[str]) -> Resolved:
        """After a benchmark: the plan's best feasible variant among those just measured (measure, then
        choose: an unmeasured variant's estimate does not outrank a measurement), else the plan's choice."""
        plan = self._plans.plan(model, [profile], "min-energy")[0]
        feasible = [c for c in plan.candidates if c.feasible and c.variant.variant_id in measured]
        if not feasible:
            return self.resolve(model, profile)
        best = min(
            feasible, key=lambda c: (c.figures.energy_j, c.figures.latency_p95_s, c.figures.size_bytes)
        )
        return Resolved(self._variants.get(best.variant.variant_id), ())

    def names(self, model: str) -> dict[str, str]:
        """Variant id -> "w1.0 fp32" (base and recipe) for messages people read."""
        return {c.variant_id: f"{c.base_name} {c.recipe}" for c in self._variants.list_variants(model)}
