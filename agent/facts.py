"""What the agent says about itself: the facts of every Hello and heartbeat, the runtime it serves with."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from edgefleet import __version__
from edgefleet.agent.conditions import Conditions
from edgefleet.agent.config import AgentConfig
from edgefleet.agent.connection.messages import HeartbeatFacts, HelloFacts, RuntimeRef
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.hardware import read_hardware
from edgefleet.agent.identity.manager import IdentityManager
from edgefleet.agent.runtime import runtime_info
from edgefleet.agent.slots import SlotManager
from edgefleet.agent.telemetry.spool import SpoolState

__all__ = ["Facts"]


class Facts:
    def __init__(
        self,
        *,
        config: AgentConfig,
        identity: IdentityManager,
        slots: SlotManager,
        disk: DiskExecutor,
        conditions: Conditions,
        runtime: Callable[[], str],
        telemetry: Callable[[], SpoolState],
    ) -> None:
        self._config, self._identity, self._slots, self._disk = config, identity, slots, disk
        self._conditions, self._runtime, self._telemetry = conditions, runtime, telemetry
        self._runtimes: dict[str, RuntimeRef] = {}
        self._process = psutil.Process()

    async def hello(self) -> HelloFacts:
        """What the next Hello reports."""
        identity = self._identity.current
        assert identity is not None
        active, previous = self._slots.active, self._slots.previous
        return HelloFacts(
            device_id=identity.device_id,
            profile=identity.profile or self._config.profile,
            hardware=await self._disk.run(read_hardware, self._config.data_dir),
            runtime=self.runtime_ref(self._runtime()),
            slots=tuple(self._slots.slots()),
            agent_version=__version__,
            applied_generation=self._slots.applied_generation,
            active=active.variant if active is not None else None,
            previous=previous.variant if previous is not None else None,
            last_telemetry_sequence=self._telemetry().last_seq,
            conditions=self._conditions.current(),
        )

    def heartbeat(self) -> HeartbeatFacts:
        """What the next heartbeat reports."""
        state = self._telemetry()
        return HeartbeatFacts(
            sent_at=time.time(),
            cpu_percent=self._process.cpu_percent(),
            rss_bytes=self._process.memory_info().rss,
            outbox_backlog=state.backlog,
            conditions=self._conditions.current(),
            windows_dropped=state.dropped,
        )

    def runtime_ref(self, kind: str) -> RuntimeRef:
        """The runtime (name and version) that runs ``kind`` ("litert" or "tflite-micro") here."""
        name = "tflite-micro" if kind == "tflite-micro" else "litert"
        if name not in self._runtimes:
            info = runtime_info("tflite-micro" if name == "tflite-micro" else "litert")
            self._runtimes[name] = RuntimeRef(info.name, info.version)
        return self._runtimes[name]
