"""Carrying out what the rollout state machine decided: assignments, blocks, events, the record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgefleet.orchestrator.rollout.machine import Assign, Block, Step
from edgefleet.orchestrator.rollout.model import Event, RolloutRecord
from edgefleet.orchestrator.service.deployments import Assignment, DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = ["RolloutEffects"]


class RolloutEffects:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        deployments: DeploymentService,
        variants: VariantService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._devices = devices
        self._deployments = deployments
        self._variants = variants
        self.clock = clock
        #: One writer at a time: ticks, starts and operator actions read-modify-write rollout records.
        self.lock = threading.RLock()

    def assign(self, device_id: str, variant_id: str, reason: str) -> Assignment:
        return self._deployments.assign(self._devices.get(device_id), self._variants.get(variant_id), reason)

    def event(self, kind: str, message: str, r: RolloutRecord | None = None, **kw: Any) -> Event:
        model = r.model if r else kw.pop("model", "")
        return self._store.add_event(
            Event(
                kind=kind,
                message=message,
                time=self.clock(),
                rollout_id=r.rollout_id if r else "",
                model=model,
                **kw,
            )
        )

    def apply(self, step: Step) -> list[Assignment]:
        """Persist the record and its events, block what the step blocked, then send the assignments."""
        r = step.record
        self._store.put_rollout(r)
        for e in step.events:
            self._store.add_event(e)
        out: list[Assignment] = []
        for intent in step.intents:
            if isinstance(intent, Block):
                self._store.block(r.model, intent.profile, intent.variant_id, intent.reason, r.updated)
            elif isinstance(intent, Assign):
                out.append(self.assign(intent.device_id, intent.variant_id, intent.reason))
        return out

    def apply_all(self, steps: Sequence[Step]) -> list[Assignment]:
        return [a for s in steps for a in self.apply(s)]
