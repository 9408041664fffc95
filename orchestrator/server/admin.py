"""FleetAdmin servicer: what the CLI calls. Protobuf in, protobuf out; the work is in the services."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeAlias

import grpc

from edgefleet.core.errors import NotFound
from edgefleet.orchestrator.benchmark.model import BenchmarkJob
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.server.admin_benchmarks import FleetAdminBenchmarks
from edgefleet.orchestrator.server.admin_fleet import FleetAdminDevices
from edgefleet.orchestrator.server.admin_rollouts import FleetAdminRollouts
from edgefleet.orchestrator.server.errors import translate_errors, translate_stream_errors
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.service.deployments import Assignment, DeploymentService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.identity import IdentityService
from edgefleet.orchestrator.service.names import source_name
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.rollbacks import RollbackService
from edgefleet.orchestrator.service.rollouts import RolloutService
from edgefleet.orchestrator.service.telemetry import TelemetryService
from edgefleet.orchestrator.service.variants import BuildRequest, Progress, VariantService
from edgefleet.orchestrator.wire.plans import plan_to_pb, profile_to_pb
from edgefleet.orchestrator.wire.variants import (
    build_result_to_pb,
    card_to_pb,
    progress_to_pb,
    pruning_from_pb,
)
from edgefleet.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["FleetAdminServicer"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class FleetAdminServicer(
    FleetAdminDevices, FleetAdminRollouts, FleetAdminBenchmarks, admin_pb2_grpc.FleetAdminServicer
):
    def __init__(
        self,
        *,
        variants: VariantService,
        plans: PlanService,
        identity: IdentityService,
        devices: DeviceService,
        deployments: DeploymentService,
        telemetry: TelemetryService,
        rollouts: RolloutService,
        rollbacks: RollbackService,
        benchmarks: BenchmarkService,
        streams: Streams,
        push: Callable[[Sequence[Assignment]], None],
        push_job: Callable[[BenchmarkJob], Awaitable[None]],
        build_executor: Executor,
    ) -> None:
        self._variants = variants
        self._plans = plans
        self._identity = identity
        self._devices = devices
        self._deployments = deployments
        self._telemetry = telemetry
        self._rollouts = rollouts
        self._rollbacks = rollbacks
        self._benchmarks = benchmarks
        self._streams = streams
        self._push = push
        self._push_job = push_job
        self._build_executor = build_executor

    @translate_stream_errors
    async def BuildVariants(self, request: admin_pb2.BuildVariantsRequest, context: Ctx) -> Any:
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[Progress] = asyncio.Queue()
        req = BuildRequest(
            model=request.model,
            base=request.base_tflite,
            eval_npz=request.eval_npz,
            base_name=request.base_name or "base",
            recipes=tuple(request.recipes),
            threads=max(1, request.threads or 1),
            base_source=source_name(request.source_name, f"{request.base_name or 'base'}.tflite"),
            eval_source=source_name(request.eval_source_name, f"{request.model or 'model'} evaluation set"),
            pruning=pruning_from_pb(request.pruning) if request.HasField("pruning") else None,
        )

        def report(p: Progress) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, p)

        job = loop.run_in_executor(self._build_executor, functools.partial(self._variants.build, req, report))
        while not job.done() or not updates.empty():
            waiter: asyncio.Future[Progress] = asyncio.ensure_future(updates.get())
            pending: list[asyncio.Future[Any]] = [waiter, job]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                yield progress_to_pb(waiter.result())
            else:
                waiter.cancel()
        result = await job
        total = len(result.variants) + len(result.skipped)
        yield admin_pb2.BuildProgress(
            stage="done", done=total, total=total, result=build_result_to_pb(result)
        )

    @translate_errors
    async def AddVariant(self, request: admin_pb2.AddVariantRequest, context: Ctx) -> admin_pb2.VariantCard:
        call = functools.partial(
            self._variants.add,
            model=request.model,
            data=request.tflite,
            recipe=request.recipe or "user",
            eval_npz=request.eval_npz,
            source=source_name(request.source_name, f"{request.recipe or 'user'}.tflite"),
            eval_source=source_name(request.eval_source_name, "the evaluation set"),
        )
        card = await asyncio.get_running_loop().run_in_executor(self._build_executor, call)
        return card_to_pb(card)

    @translate_errors
    async def ListVariants(
        self, request: admin_pb2.ListVariantsRequest, context: Ctx
    ) -> admin_pb2.ListVariantsResponse:
        cards = await asyncio.to_thread(self._variants.list_variants, request.model)
        return admin_pb2.ListVariantsResponse(variants=[card_to_pb(c) for c in cards])

    @translate_errors
    async def GetVariant(self, request: admin_pb2.GetVariantRequest, context: Ctx) -> admin_pb2.VariantCard:
        return card_to_pb(await asyncio.to_thread(self._variants.get, request.variant_id))

    @translate_errors
    async def ListProfiles(
        self, request: admin_pb2.ListProfilesRequest, context: Ctx
    ) -> admin_pb2.ListProfilesResponse:
        return admin_pb2.ListProfilesResponse(
            profiles=[profile_to_pb(p) for p in self._plans.list_profiles()]
        )

    @translate_errors
    async def GetProfile(self, request: admin_pb2.GetProfileRequest, context: Ctx) -> admin_pb2.Profile:
        return profile_to_pb(self._plans.get_profile(request.name))

    @translate_errors
    async def Plan(self, request: admin_pb2.PlanRequest, context: Ctx) -> admin_pb2.PlanResponse:
        profiles = tuple(request.profiles)
        if request.labels:  # the profiles of the devices that carry the labels
            devices = await asyncio.to_thread(self._deployments.targets, profiles, (), dict(request.labels))
            if not devices:
                raise NotFound(f"no enrolled device carries the labels {dict(request.labels)}")
            profiles = tuple(sorted({d.profile for d in devices}))
        plans = await asyncio.to_thread(
            self._plans.plan, request.model, profiles, request.objective or "min-energy"
        )
        return admin_pb2.PlanResponse(model=request.model, plans=[plan_to_pb(p) for p in plans])
