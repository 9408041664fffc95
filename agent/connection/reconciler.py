"""Desired state -> slots: download, verify, install, load, self-test, trial, commit or roll back.

Level-triggered and idempotent: a desired state whose variant already serves changes nothing but the
report. Whose fault a failure is decides what happens next:

- the variant's (it does not load, its self-test disagrees, inference errors during the trial): final
  for that generation; only a new generation tries again;
- the device's (a full disk, a refused, cut or corrupt transfer, the agent stopped during the trial):
  the generation is not spent; the agent retries it by itself (30 s doubling to 10 min by default),
  reporting every attempt with its reason and fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgefleet.agent.connection.installer import Fault, Fetch, Installer
from edgefleet.agent.connection.messages import DeploymentReport, DesiredState, RuntimeRef
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.slots import SlotManager, VariantInfo
from edgefleet.agent.workload.engine import Engine
from edgefleet.core.enums import DeploymentPhase, FaultDomain, SlotState
from edgefleet.core.errors import EdgefleetError

__all__ = ["DEFAULT_TRIAL_SECONDS", "Reconciler", "RetryPolicy"]

log = logging.getLogger("edgefleet.agent")
DEFAULT_TRIAL_SECONDS = 30.0
Phase = DeploymentPhase


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 30.0
    maximum: float = 600.0

    def delay(self, attempts: int) -> float:
        """Wait before the next attempt after ``attempts`` failed ones (1, 2, ...)."""
        return min(self.maximum, self.initial * 2.0 ** min(max(attempts - 1, 0), 30))


@dataclass(frozen=True, slots=True)
class _Retry:
    generation: int
    attempts: int
    #: Monotonic time of the next attempt.
    due: float
    #: What the last attempt reported (sent again while waiting, when the desired state is re-sent).
    report: DeploymentReport


class Reconciler:
    def __init__(
        self,
        *,
        slots: SlotManager,
        engine: Engine,
        disk: DiskExecutor,
        fetch: Fetch,
        discard: Callable[[Path], None],
        send: Callable[[DeploymentReport], None],
        runtime_ref: Callable[[str], RuntimeRef],
        stop: asyncio.Event,
        retry: RetryPolicy = RetryPolicy(),
        on_slots: Callable[[], None] = lambda: None,
        on_outcome: Callable[[DeploymentReport], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots, self._engine, self._disk = slots, engine, disk
        self._installer = Installer(slots=slots, engine=engine, disk=disk, fetch=fetch, discard=discard)
        self._send = send
        self._runtime_ref = runtime_ref
        self._stop = stop
        self._policy = retry
        self._on_slots, self._on_outcome = on_slots, on_outcome
        self._clock = clock
        self._desired: DesiredState | None = None
        self._offered = False
        self._wake = asyncio.Event()
        self._retry: _Retry | None = None
        #: The runtime serving the active slot ("litert" or "tflite-micro").
        self.runtime = "litert"

    # ---- inputs ----
    def offer(self, desired: DesiredState) -> None:
        """The orchestrator's desired state (sent on every connect, and when it changes)."""
        self._desired, self._offered = desired, True
        self._wake.set()

    async def recover(self) -> None:
        """At start: a trial cut short is rolled back (the device's fault: retried later), and the active
        slot is loaded (one that no longer loads is rolled back: the variant's fault)."""
        recovery = await self._disk.run(self._slots.recover)
        if recovery is not None:
            log.warning(recovery.note)
            report = self._report(recovery.generation, recovery.variant, Phase.ROLLED_BACK, recovery.note)
            report = self._with_fault(report, FaultDomain.DEVICE)
            self._retry = _Retry(recovery.generation, 1, self._clock() + self._policy.delay(1), report)
            self._outcome(report)
        active = self._slots.active
        if active is not None and active.variant is not None:
            try:
                self.runtime = await self._installer.serve_slot(active.name)
                log.info("serving %s from slot %s", active.variant.variant_id[:12], active.name)
            except EdgefleetError as exc:
                log.error("active slot %s does not load: %s", active.name, exc.message)
                note = await self._disk.run(
                    self._slots.rollback, f"does not load after restart: {exc.message}"
                )
                log.warning(note)
                report = self._report(active.generation, active.variant, Phase.ROLLED_BACK, note)
                self._outcome(self._with_fault(report, FaultDomain.VARIANT))
                await self._serve_active()
        self._on_slots()

    # ---- the worker ----
    async def run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._retry_in())
            self._wake.clear()
            desired = self._desired
            if desired is None or not (self._offered or self._retry_in() == 0.0):
                continue
            self._offered = False
            try:
                await self._apply(desired)
            except Exception as exc:  # a bug or an unforeseen device error: report it, retry later
                log.exception("applying generation %d failed", desired.generation)
                retry = self._retry_for(desired.generation)
                attempts = retry.attempts if retry is not None else 0
                self._device_fault(desired, attempts, f"agent error: {type(exc).__name__}: {exc}")

    def _retry_for(self, generation: int) -> _Retry | None:
        retry = self._retry
        return retry if retry is not None and retry.generation == generation else None

    def _retry_in(self) -> float | None:
        """Seconds until a retry of the current desired state is due (None: none is pending)."""
        retry = self._retry_for(self._desired.generation) if self._desired is not None else None
        return None if retry is None else max(0.0, retry.due - self._clock())

    async def _apply(self, ds: DesiredState) -> None:
        slots, gen, variant = self._slots, ds.generation, ds.variant
        if variant is None:
            await self._disk.run(slots.set_applied_generation, gen)
            return
        active = slots.active
        if (
            active is not None
            and active.variant is not None
            and active.variant.variant_id == variant.variant_id
        ):
            if active.state == SlotState.COMMITTED:
                await self._disk.run(slots.set_applied_generation, max(gen, slots.applied_generation))
                self._send(self._report(gen, variant, Phase.COMMITTED))
                self._retry = None
            else:
                self._send(self._report(gen, variant, Phase.TRIAL))
            return
        if gen <= slots.applied_generation:
            failed = next(
                (s for s in slots.slots() if s.variant and s.variant.variant_id == variant.variant_id), None
            )
            reason = (
                failed.reason
                if failed is not None and failed.state == SlotState.FAILED
                else "already attempted"
            )
            report = self._report(
                gen, variant, Phase.FAILED, f"generation {gen} was attempted before: {reason}"
            )
            self._send(self._with_fault(report, FaultDomain.VARIANT))
            return
        retry = self._retry_for(gen)
        if retry is not None and self._clock() < retry.due:
            self._send(retry.report)  # asked again meanwhile: say again why it is not there yet
            return
        await self._attempt(ds, retry.attempts if retry is not None else 0)

    async def _attempt(self, ds: DesiredState, attempts: int) -> None:
        gen, variant = ds.generation, ds.variant
        assert variant is not None

        def progress(done: int, total: int) -> None:
            self._send(self._report(gen, variant, Phase.DOWNLOADING, done=done, total=total))

        def installing() -> None:
            self._send(self._report(gen, variant, Phase.INSTALLING))

        try:
            prepared = await self._installer.prepare(ds, progress, installing)
        except Fault as fault:
            if fault.domain == FaultDomain.DEVICE:
                self._device_fault(ds, attempts, fault.reason)
                return
            await self._disk.run(self._slots.set_applied_generation, gen)
            self._retry = None
            self._outcome(
                self._with_fault(self._report(gen, variant, Phase.FAILED, fault.reason), fault.domain)
            )
            return
        trial = ds.trial_seconds if ds.trial_seconds > 0 else DEFAULT_TRIAL_SECONDS
        slot = prepared.slot
        await self._disk.run(self._slots.activate, slot, trial)
        self.runtime = ds.runtime
        self._engine.serve(prepared.loaded)
        self._on_slots()
        self._send(self._report(gen, variant, Phase.TRIAL))
        log.info(
            "variant %s on trial in slot %s for %.0f s (self-test %.0f%% agreement)",
            variant.variant_id[:12],
            slot,
            trial,
            prepared.agreement * 100,
        )
        errors_before = self._engine.stats.errors
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=trial)
        if self._stop.is_set():
            return  # stopping mid-trial: the next start rolls the trial back (the device's fault)
        await self._disk.run(self._slots.set_applied_generation, gen)
        self._retry = None
        errors = self._engine.stats.errors - errors_before
        if errors:
            note = await self._disk.run(self._slots.rollback, f"{errors} inference error(s) during the trial")
            await self._serve_active()
            self._outcome(
                self._with_fault(self._report(gen, variant, Phase.ROLLED_BACK, note), FaultDomain.VARIANT)
            )
            return
        await self._disk.run(self._slots.commit)
        self._outcome(self._report(gen, variant, Phase.COMMITTED))
        log.info("variant %s committed", variant.variant_id[:12])

    def _device_fault(self, ds: DesiredState, attempts: int, reason: str) -> None:
        attempts += 1
        delay = self._policy.delay(attempts)
        report = self._with_fault(
            self._report(ds.generation, ds.variant, Phase.FAILED, reason), FaultDomain.DEVICE
        )
        self._retry = _Retry(ds.generation, attempts, self._clock() + delay, report)
        log.warning(
            "deployment %d failed for the device's sake (attempt %d); retrying in %.0f s",
            ds.generation,
            attempts,
            delay,
        )
        self._outcome(report)

    async def _serve_active(self) -> None:
        runtime = await self._installer.serve_active()
        if runtime is not None:
            self.runtime = runtime

    # ---- reports ----
    def _report(
        self,
        generation: int,
        variant: VariantInfo | None,
        phase: DeploymentPhase,
        reason: str = "",
        *,
        done: int = 0,
        total: int = 0,
    ) -> DeploymentReport:
        active = self._slots.active
        return DeploymentReport(
            generation=generation,
            variant=variant,
            phase=phase,
            reason=reason,
            done=done,
            total=total,
            active=active.variant if active is not None else None,
            runtime=self._runtime_ref(self.runtime),
        )

    @staticmethod
    def _with_fault(report: DeploymentReport, fault: FaultDomain) -> DeploymentReport:
        return replace(report, fault=fault)

    def _outcome(self, report: DeploymentReport) -> None:
        """A deployment ended (committed, failed or rolled back): report it and count it."""
        self._on_slots()
        if report.reason:
            log.warning("deployment %d: %s", report.generation, report.reason)
        self._on_outcome(report)
        self._send(report)
