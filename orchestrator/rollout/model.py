"""Rollout records and events (frozen; stored as JSON)."""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edgefleet.orchestrator.rollout.policy import Policy

__all__ = [
    "ACTIVE",
    "DevicePhase",
    "DeviceRolloutState",
    "Event",
    "RolloutRecord",
    "RolloutState",
    "split_waves",
]


class RolloutState(enum.StrEnum):
    PENDING = "pending"
    BENCHMARKING = "benchmarking"  # its candidates are measured on canaries before anything is chosen
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    KEPT = "kept"  # the benchmark found nothing that beats what the devices run: nothing was changed


#: States in which a rollout still acts on its devices.
ACTIVE: tuple[RolloutState, ...] = (
    RolloutState.PENDING,
    RolloutState.BENCHMARKING,
    RolloutState.RUNNING,
    RolloutState.PAUSED,
)


class DevicePhase(enum.StrEnum):
    """Where one device is in a rollout."""

    WAITING = "waiting"  # its wave has not started
    DEPLOYING = "deploying"  # desired state sent, not committed yet
    ANALYSING = "analysing"  # committed: its windows are judged
    PASSED = "passed"  # enough consecutive PASS windows
    FAILED = "failed"  # deployment failed, or judged bad with no previous variant to return to
    ROLLED_BACK = "rolled_back"  # sent back to the variant it ran before


@dataclass(frozen=True, slots=True)
class DeviceRolloutState:
    state: DevicePhase = DevicePhase.WAITING
    since: float = 0.0
    reason: str = ""
    #: The desired-state generation this rollout gave the device: only that deployment's reports count.
    generation: int = 0
    #: The saving against the incumbent measured on this device (statistics; empty until measured).
    evidence: dict[str, float] = field(default_factory=dict)


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
    #: profile -> the benchmark job that measured its candidates before the choice ("" rows: none)
    benchmarks: dict[str, str] = field(default_factory=dict)
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
        doc["devices"] = {
            k: DeviceRolloutState(
                DevicePhase(v["state"]),
                v["since"],
                v["reason"],
                v.get("generation", 0),
                v.get("evidence", {}),
            )
            for k, v in doc["devices"].items()
        }
        doc["state"] = RolloutState(doc["state"])
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


def split_waves(device_ids: list[str], fractions: Sequence[float]) -> list[list[str]]:
    """Cumulative wave fractions (0.1, 0.5, 1.0) as disjoint groups of devices, in the given order; every
    wave has at least one device and none is empty."""
    groups: list[list[str]] = []
    done = 0
    for fraction in fractions:
        upto = max(1, math.ceil(fraction * len(device_ids))) if fraction > 0 else 1
        upto = min(upto, len(device_ids))
        if upto > done:
            groups.append(device_ids[done:upto])
            done = upto
    return groups
