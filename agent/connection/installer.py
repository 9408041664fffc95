"""Getting a desired variant ready to serve: download and verify the artifact, install it into the inactive
slot, load it and run its self-test; and serving what a slot holds. Failures say whose fault they are."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from edgefleet.agent.connection.messages import DesiredState
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.slots import SlotManager, SlotName
from edgefleet.agent.workload.engine import Engine, Loaded
from edgefleet.core.enums import FaultDomain
from edgefleet.core.errors import EdgefleetError

__all__ = ["Fault", "Fetch", "Installer", "Prepared"]

log = logging.getLogger("edgefleet.agent")
#: Downloads and verifies a desired state's artifact; the progress callback gets (done, total) bytes.
Fetch = Callable[[DesiredState, Callable[[int, int], None]], Awaitable[Path]]


class Fault(Exception):
    """A deployment step failed; ``domain`` says whose fault it is."""

    def __init__(self, domain: FaultDomain, reason: str) -> None:
        super().__init__(reason)
        self.domain, self.reason = domain, reason


@dataclass(frozen=True, slots=True)
class Prepared:
    slot: SlotName
    loaded: Loaded
    #: Self-test agreement (0-1).
    agreement: float


class Installer:
    def __init__(
        self,
        *,
        slots: SlotManager,
        engine: Engine,
        disk: DiskExecutor,
        fetch: Fetch,
        discard: Callable[[Path], None],
    ) -> None:
        self._slots, self._engine, self._disk = slots, engine, disk
        self._fetch, self._discard = fetch, discard

    async def prepare(
        self, ds: DesiredState, progress: Callable[[int, int], None], installing: Callable[[], None]
    ) -> Prepared:
        """Download, verify, install, load and self-test (nothing serves it yet); raises ``Fault``.

        The transfer and the install are the device's business (disk, link, a corrupt or refused transfer);
        a model that does not load or disagrees with its own samples is the variant's."""
        variant = ds.variant
        assert variant is not None
        try:
            bundle = await self._fetch(ds, progress)
            installing()
            slot = await self._disk.run(self._slots.install, bundle, variant, ds.runtime, ds.generation)
            await self._disk.run(self._discard, bundle)
        except EdgefleetError as exc:
            raise Fault(FaultDomain.DEVICE, exc.message) from exc
        except OSError as exc:  # the device itself (disk, permissions)
            raise Fault(FaultDomain.DEVICE, device_error(exc)) from exc
        try:
            loaded = await self._engine.load(slot, self._slots.bundle_path(slot), variant, ds.runtime)
            result = await self._engine.self_test(loaded)
        except EdgefleetError as exc:
            await self._disk.run(self._slots.mark_failed, slot, f"does not load: {exc.message}")
            raise Fault(FaultDomain.VARIANT, f"does not load: {exc.message}") from exc
        except OSError as exc:
            raise Fault(FaultDomain.DEVICE, device_error(exc)) from exc
        if not result.passed:
            await self._disk.run(self._slots.mark_failed, slot, result.reason)
            raise Fault(FaultDomain.VARIANT, result.reason)
        return Prepared(slot, loaded, result.agreement)

    async def serve_slot(self, name: SlotName) -> str:
        """Load and serve what slot ``name`` holds; returns its runtime (raises when it does not load)."""
        slot = next(s for s in self._slots.slots() if s.name == name)
        assert slot.variant is not None
        loaded = await self._engine.load(name, self._slots.bundle_path(name), slot.variant, slot.runtime)
        self._engine.serve(loaded)
        return slot.runtime

    async def serve_active(self) -> str | None:
        """Serve what the active slot holds (nothing when there is none or it does not load either)."""
        active = self._slots.active
        if active is None or active.variant is None:
            self._engine.serve(None)
            return None
        try:
            return await self.serve_slot(active.name)
        except EdgefleetError as exc:
            log.error("slot %s does not load either (%s): serving nothing", active.name, exc.message)
            self._engine.serve(None)
            return None


def device_error(exc: OSError) -> str:
    return f"device error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or ''})"
