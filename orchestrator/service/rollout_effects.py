"""Carrying out what the rollout state machine decided: assignments, blocks, events, the record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
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

    def apply(self, step: Step) -> tuple[RolloutRecord, list[Assignment]]:
        """Make the assignments (noting each device's new generation in the record), block what the step
        blocked, then persist the record and its events. Returns the record as stored and the assignments
        to push."""
        r = step.record
        out: list[Assignment] = []
        devices = dict(r.devices)
        for intent in step.intents:
            if isinstance(intent, Block):
                self._store.block(r.model, intent.profile, intent.variant_id, intent.reason, r.updated)
            elif isinstance(intent, Assign):
                a = self.assign(intent.device_id, intent.variant_id, intent.reason)
                if intent.device_id in devices:
                    devices[a.device_id] = replace(devices[a.device_id], generation=a.desired.generation)
                out.append(a)
        r = replace(r, devices=devices)
        self._store.put_rollout(r)
        for e in step.events:
            self._store.add_event(e)
        return r, out
