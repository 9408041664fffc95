"""Rollout policy: budgets, waves, bake time, thresholds. Hashed into every decision event."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.rollout.analysis import AnalysisDefaults

__all__ = ["OVERRIDABLE", "Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    accuracy_floor: float
    max_energy_joules: float
    max_latency_p95_seconds: float
    #: "dynamic" (idle baseline subtracted) or "gross": which energy per inference the budget judges.
    energy_measure: str = "dynamic"
    #: The objective is energy: each device must show a saving against what it ran before (its incumbent).
    require_saving: bool = True
    #: The least saving worth deploying: less than this, proven, is "no saving" (a rollback).
    min_saving: float = 0.05
    #: Largest accuracy loss accepted against the incumbent on the same device (the profile's max drop).
    max_accuracy_drop: float = 0.01
    #: Cumulative wave sizes as fractions of the target; 0 means one canary device.
    waves: tuple[float, ...] = (0.0, 0.25, 1.0)
    #: A wave is promoted only after this long, and after its devices passed.
    bake_seconds: float = 60.0
    #: The whole rollout rolls back when more than this share of a wave's devices fail.
    max_failing_share: float = 0.2
    #: NODATA/INCONCLUSIVE this long after the bake time pauses the rollout (never a rollback).
    pause_after_seconds: float = 600.0
    analysis: AnalysisDefaults = field(default_factory=AnalysisDefaults)

    def __post_init__(self) -> None:
        if (
            not self.waves
            or any(not 0 <= w <= 1 for w in self.waves)
            or list(self.waves) != sorted(self.waves)
        ):
            raise InvalidArgument(f"waves must be increasing fractions in [0, 1], got {list(self.waves)}")
        if self.waves[-1] != 1.0:
            raise InvalidArgument(f"the last wave must be 1.0 (the whole target), got {self.waves[-1]}")
        for name in ("max_energy_joules", "max_latency_p95_seconds", "bake_seconds", "pause_after_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (value == 0 and name.startswith("max")):
                raise InvalidArgument(f"{name} must be a positive number, got {value}")
        if self.energy_measure not in ("dynamic", "gross"):
            raise InvalidArgument(f"energy_measure must be 'dynamic' or 'gross', got {self.energy_measure!r}")
        if not 0 <= self.min_saving < 1:
            raise InvalidArgument(f"min_saving must be in [0, 1), got {self.min_saving}")
        if not 0 <= self.max_accuracy_drop <= 1:
            raise InvalidArgument(f"max_accuracy_drop must be in [0, 1], got {self.max_accuracy_drop}")
        if not 0 < self.accuracy_floor <= 1:
            raise InvalidArgument(f"accuracy_floor must be in (0, 1], got {self.accuracy_floor}")
        if not 0 <= self.max_failing_share < 1:
            raise InvalidArgument(f"max_failing_share must be in [0, 1), got {self.max_failing_share}")

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> Policy:
        analysis = AnalysisDefaults(**doc.pop("analysis"))  # type: ignore[arg-type]
        return cls(**{**doc, "waves": tuple(doc["waves"]), "analysis": analysis})  # type: ignore[arg-type]

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


#: Policy settings a rollout may override.
OVERRIDABLE = (
    "accuracy_floor",
    "max_energy_joules",
    "max_latency_p95_seconds",
    "waves",
    "bake_seconds",
    "max_failing_share",
    "pause_after_seconds",
    "require_saving",
    "min_saving",
)
