"""Applying one desired state: download, verify, install, load, self-test, trial, commit or roll back.

Idempotent: a desired state whose variant already serves changes nothing, and a
generation that failed once is not retried until the orchestrator sends a new one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edgefleet.core.errors import EdgefleetError
from edgefleet.v1 import common_pb2, control_pb2

if TYPE_CHECKING:
    from edgefleet.agent.daemon import Agent

__all__ = ["DEFAULT_TRIAL_SECONDS", "apply_desired"]

log = logging.getLogger("edgefleet.agent")
DEFAULT_TRIAL_SECONDS = 30.0


async def apply_desired(agent: Agent, ds: control_pb2.DesiredState) -> None:
    slots, engine = agent.slots, agent.engine
    gen, ref = ds.generation, ds.variant
    if not ds.HasField("variant") or not ref.variant_id:
        slots.set_applied_generation(gen)
        return
    active = slots.active
    if active is not None and active.variant is not None and active.variant.variant_id == ref.variant_id:
        phase = (
            common_pb2.DEPLOYMENT_PHASE_COMMITTED
            if active.state == "committed"
            else common_pb2.DEPLOYMENT_PHASE_TRIAL
        )
        agent._report(gen, ref, phase)  # already serving it: nothing to do
        slots.set_applied_generation(max(gen, slots.applied_generation))
        return
    if gen <= slots.applied_generation:
        failed = next(
            (s for s in slots.slots() if s.variant and s.variant.variant_id == ref.variant_id), None
        )
        reason = failed.reason if failed is not None and failed.state == "failed" else "already attempted"
        agent._report(
            gen, ref, common_pb2.DEPLOYMENT_PHASE_FAILED, f"generation {gen} was attempted before: {reason}"
        )
        return
    runtime = ds.runtime or "litert"
    variant = agent.variant_of(ds)
    bundle = await agent.fetch(ds)
    agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_INSTALLING)
    slot = slots.install(bundle, variant, runtime)
    agent.downloader.discard(bundle)
    try:
        loaded = await engine.load(slot, slots.bundle_path(slot), variant, runtime)
        result = await engine.self_test(loaded)
    except EdgefleetError as exc:
        slots.mark_failed(slot, f"does not load: {exc.message}")
        slots.set_applied_generation(gen)
        agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_FAILED, f"does not load: {exc.message}")
        return
    if not result.passed:
        slots.mark_failed(slot, result.reason)
        slots.set_applied_generation(gen)
        agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_FAILED, result.reason)
        return
    trial = ds.trial_seconds if ds.trial_seconds > 0 else DEFAULT_TRIAL_SECONDS
    slots.activate(slot, trial)
    agent.runtime = runtime
    engine.serve(loaded)
    slots.set_applied_generation(gen)
    agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_TRIAL)
    log.info(
        "variant %s on trial in slot %s for %.0f s (self-test %.0f%% agreement)",
        ref.variant_id[:12],
        slot,
        trial,
        result.agreement * 100,
    )
    errors_before = engine.stats.errors
    if await agent.wait_or_stop(trial):
        return  # stopping mid-trial: the next start treats the trial as failed
    errors = engine.stats.errors - errors_before
    if errors:
        note = slots.rollback(f"{errors} inference error(s) during the trial")
        await agent._load_active()
        agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_ROLLED_BACK, note)
        return
    slots.commit()
    agent._report(gen, ref, common_pb2.DEPLOYMENT_PHASE_COMMITTED)
    log.info("variant %s committed", ref.variant_id[:12])
