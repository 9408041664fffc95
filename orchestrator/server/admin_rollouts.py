"""FleetAdmin RPCs about rollouts, rollbacks and events (mixed into the FleetAdmin servicer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc

from edgefleet.orchestrator.benchmark.model import BenchmarkJob
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.rollout.model import RolloutRecord
from edgefleet.orchestrator.server.errors import translate_errors
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.service.deployments import Assignment
from edgefleet.orchestrator.service.rollbacks import RollbackService
from edgefleet.orchestrator.service.rollout_benchmark import CANARIES_PER_PROFILE
from edgefleet.orchestrator.service.rollouts import RolloutService
from edgefleet.orchestrator.wire.benchmarks import rollout_settings_from_pb
from edgefleet.orchestrator.wire.fleet import assignments_to_pb
from edgefleet.orchestrator.wire.rollouts import event_to_pb, rollout_to_pb
from edgefleet.v1 import admin_pb2

__all__ = ["FleetAdminRollouts"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class FleetAdminRollouts:
    _rollouts: RolloutService
    _rollbacks: RollbackService
    _benchmarks: BenchmarkService
    _streams: Streams
    _push: Callable[[Sequence[Assignment]], None]
    _push_job: Callable[[BenchmarkJob], Awaitable[None]]

    async def _push_jobs(self, rollout: RolloutRecord) -> None:
        """The rollout's benchmark jobs to their devices (open: run it; closed: stop)."""
        for job_id in rollout.benchmarks.values():
            await self._push_job(await asyncio.to_thread(self._benchmarks.get, job_id))

    @translate_errors
    async def StartRollout(self, request: admin_pb2.StartRolloutRequest, context: Ctx) -> admin_pb2.Rollout:
        p = request.policy
        overrides: dict[str, Any] = {}
        for name in (
            "accuracy_floor",
            "max_energy_joules",
            "max_latency_p95_seconds",
            "require_saving",
            "min_saving",
            "pause_after_seconds",
        ):
            if p.HasField(name):
                overrides[name] = getattr(p, name)
        if p.waves:
            overrides["waves"] = tuple(p.waves)
        if p.bake_seconds:
            overrides["bake_seconds"] = p.bake_seconds
        if p.max_failing_share:
            overrides["max_failing_share"] = p.max_failing_share
        online = frozenset(await asyncio.to_thread(self._streams.online))  # on any replica
        rollout, assignments = await asyncio.to_thread(
            lambda: self._rollouts.start(
                model=request.model,
                profiles=tuple(request.target.profiles),
                device_ids=tuple(request.target.device_ids),
                overrides=overrides,
                variants=dict(request.variants),
                objective=request.objective or "min-energy",
                labels=dict(request.target.labels),
                force=request.force,
                skip_benchmark=request.skip_benchmark,
                benchmark=rollout_settings_from_pb(request, CANARIES_PER_PROFILE),
                online=online,
            )
        )
        self._push(assignments)
        await self._push_jobs(rollout)
        return rollout_to_pb(rollout)

    @translate_errors
    async def GetRollout(self, request: admin_pb2.GetRolloutRequest, context: Ctx) -> admin_pb2.Rollout:
        return rollout_to_pb(await asyncio.to_thread(self._rollouts.get, request.rollout_id))

    @translate_errors
    async def ListRollouts(
        self, request: admin_pb2.ListRolloutsRequest, context: Ctx
    ) -> admin_pb2.ListRolloutsResponse:
        rollouts = await asyncio.to_thread(self._rollouts.list_rollouts, request.model)
        return admin_pb2.ListRolloutsResponse(rollouts=[rollout_to_pb(r) for r in rollouts])

    @translate_errors
    async def ControlRollout(
        self, request: admin_pb2.ControlRolloutRequest, context: Ctx
    ) -> admin_pb2.Rollout:
        rollout, assignments = await asyncio.to_thread(
            self._rollouts.control, request.rollout_id, request.action, request.reason
        )
        self._push(assignments)
        await self._push_jobs(rollout)
        return rollout_to_pb(rollout)

    @translate_errors
    async def Rollback(self, request: admin_pb2.RollbackRequest, context: Ctx) -> admin_pb2.RollbackResponse:
        assignments = await asyncio.to_thread(
            self._rollbacks.manual_rollback, request.model, request.profile, request.reason
        )
        self._push(assignments)
        return admin_pb2.RollbackResponse(assignments=assignments_to_pb(assignments))

    @translate_errors
    async def Unblock(self, request: admin_pb2.UnblockRequest, context: Ctx) -> admin_pb2.UnblockResponse:
        await asyncio.to_thread(self._rollbacks.unblock, request.model, request.profile, request.variant_id)
        return admin_pb2.UnblockResponse()

    @translate_errors
    async def ListEvents(
        self, request: admin_pb2.ListEventsRequest, context: Ctx
    ) -> admin_pb2.ListEventsResponse:
        events = await asyncio.to_thread(
            lambda: self._rollouts.events(
                kind=request.kind,
                rollout_id=request.rollout_id,
                device_id=request.device_id,
                model=request.model,
                after_id=request.after_id,
                limit=min(request.limit or 100, 10_000),
            )
        )
        return admin_pb2.ListEventsResponse(events=[event_to_pb(e) for e in events])
