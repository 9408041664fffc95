"""Plans: the selection for (model family, profiles), with measured figures and rollback blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from edgefleet.core.errors import NotFound
from edgefleet.orchestrator.profiles import Profile, ProfileRegistry
from edgefleet.orchestrator.selection import MeasuredFigures, ProfilePlan, select
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = [
    "BlockSource",
    "CombinedMeasurements",
    "MeasurementSource",
    "NothingBlocked",
    "NothingMeasured",
    "PlanService",
    "StoreBlocks",
]


class MeasurementSource(Protocol):
    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        """Aggregated device telemetry per variant id for (model, profile)."""
        ...


class BlockSource(Protocol):
    def blocked(self, model: str, profile: str) -> Mapping[str, str]:
        """Variant id -> rollback reason, for variants rolled back on this profile."""
        ...


class CombinedMeasurements:
    """Several sources; for a variant measured by more than one, the later source wins (benchmark jobs,
    measured side by side and interleaved, after serving telemetry)."""

    def __init__(self, *sources: MeasurementSource) -> None:
        self._sources = sources

    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        out: dict[str, MeasuredFigures] = {}
        for source in self._sources:
            out.update(source.measured(model, profile))
        return out


class NothingMeasured:
    """A fleet with no telemetry yet: every figure is an estimate."""

    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        return {}


class StoreBlocks:
    """Rolled-back variants as the store records them (rollouts and manual rollbacks write them)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def blocked(self, model: str, profile: str) -> Mapping[str, str]:
        return self._store.blocked(model, profile)


class NothingBlocked:
    """A fleet where nothing was rolled back."""

    def blocked(self, model: str, profile: str) -> Mapping[str, str]:
        return {}


class PlanService:
    def __init__(
        self,
        *,
        variants: VariantService,
        profiles: ProfileRegistry,
        measurements: MeasurementSource | None = None,
        blocks: BlockSource | None = None,
    ) -> None:
        self._variants = variants
        self.profiles = profiles
        self._measurements = measurements or NothingMeasured()
        self._blocks = blocks or NothingBlocked()

    def list_profiles(self) -> list[Profile]:
        return self.profiles.all()

    def get_profile(self, name: str) -> Profile:
        return self.profiles.get(name)

    def plan(
        self, model: str, profiles: Sequence[str] = (), objective: str = "min-energy"
    ) -> list[ProfilePlan]:
        check_name("model", model)
        targets = [self.profiles.get(p) for p in profiles] if profiles else self.profiles.all()
        cards = self._variants.list_variants(model)
        if not cards:
            raise NotFound(f"no variants of model {model!r}; build them with `edgefleet variants build`")
        return [
            select(
                cards,
                p,
                objective=objective or "min-energy",
                measured=self._measurements.measured(model, p.name),
                blocked=self._blocks.blocked(model, p.name),
            )
            for p in targets
        ]
