"""Rollout records and events (frozen; stored as JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edgefleet.orchestrator.rollout.policy import Policy

__all__ = ["DeviceRolloutState", "Event", "RolloutRecord", "RolloutState"]

RolloutState = Literal["pending", "running", "paused", "succeeded", "rolled_back", "aborted"]
ACTIVE: tuple[str, ...] = ("pending", "running", "paused")


@dataclass(frozen=True, slots=True)
class DeviceRolloutState:
    #: waiting, deploying, analysing, passed, failed, rolled_back
    state: str = "waiting"
    since: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    rollout_id: str
    model: str
    #: per profile: budgets from the profile unless overridden; waves and timing shared
    policies: dict[str, Policy]
    #: profile -> variant id being rolled out
    variants: dict[str, str]
    #: device id -> variant it ran before (the rollback target; "" when none)
    previous: dict[str, str]
    #: device ids per wave (cumulative waves resolved to disjoint groups)
    waves: list[list[str]]
    wave: int
    wave_started: float
    state: RolloutState
    state_reason: str
    created: float
    updated: float
    devices: dict[str, DeviceRolloutState] = field(default_factory=dict)
    #: Set by the store: increments with every write (compare-and-swap between writers); not content,
    #: so records equal in content compare equal whatever their version.
    version: int = field(default=0, compare=False)

    @property
    def timing(self) -> Policy:
        """Waves, bake and pause settings (the same in every profile's policy)."""
        return next(iter(self.policies.values()))

    def to_json(self) -> str:
        doc = asdict(self)
        doc["policies"] = {k: v.to_dict() for k, v in self.policies.items()}
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RolloutRecord:
        doc: dict[str, Any] = json.loads(text)
        doc["policies"] = {k: Policy.from_dict(v) for k, v in doc["policies"].items()}
        doc["devices"] = {k: DeviceRolloutState(**v) for k, v in doc["devices"].items()}
        return cls(**doc)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    message: str
    time: float
    rollout_id: str = ""
    device_id: str = ""
    model: str = ""
    profile: str = ""
    variant_id: str = ""
    rule: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    event_id: int = 0
