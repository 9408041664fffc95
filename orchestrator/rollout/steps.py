"""What one step of the rollout state machine produces, and the builder that accumulates it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from edgefleet.orchestrator.fleet.model import DeviceRecord, WindowRecord
from edgefleet.orchestrator.rollout.model import DevicePhase, DeviceRolloutState, Event, RolloutRecord

__all__ = ["Assign", "Block", "Intent", "Observation", "Step", "StepBuilder"]


@dataclass(frozen=True, slots=True)
class Observation:
    """One device as the fleet knows it now; while it is judged, its windows since it committed, and the
    windows of what it ran before the rollout (its incumbent) from before the rollout began."""

    device: DeviceRecord
    windows: tuple[WindowRecord, ...] = ()
    incumbent: tuple[WindowRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Assign:
    device_id: str
    variant_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Block:
    profile: str
    variant_id: str
    reason: str


Intent = Assign | Block


@dataclass(frozen=True, slots=True)
class Step:
    record: RolloutRecord
    intents: tuple[Intent, ...] = ()
    events: tuple[Event, ...] = ()


class StepBuilder:
    """Accumulates a step: the record as it changes, intents and events (all stamped ``now``)."""

    def __init__(self, record: RolloutRecord, now: float) -> None:
        self.r = record
        self.now = now
        self.intents: list[Intent] = []
        self.events: list[Event] = []

    def set(
        self,
        device_id: str,
        state: DevicePhase,
        since: float | None = None,
        reason: str = "",
        evidence: dict[str, float] | None = None,
    ) -> None:
        devices = dict(self.r.devices)
        old = devices[device_id]
        devices[device_id] = DeviceRolloutState(
            state,
            self.now if since is None else since,
            reason,
            old.generation,
            old.evidence if evidence is None else evidence,
        )
        self.r = replace(self.r, devices=devices)

    def event(self, kind: str, message: str, **kw: Any) -> None:
        self.events.append(
            Event(
                kind=kind,
                message=message,
                time=self.now,
                rollout_id=self.r.rollout_id,
                model=self.r.model,
                **kw,
            )
        )

    def step(self) -> Step:
        return Step(replace(self.r, updated=self.now), tuple(self.intents), tuple(self.events))
