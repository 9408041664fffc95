"""FleetAdmin RPCs about benchmark jobs (mixed into the FleetAdmin servicer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import grpc

from edgefleet.orchestrator.benchmark.model import BenchmarkJob
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.server.errors import translate_errors
from edgefleet.orchestrator.server.streams import Streams
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.wire.benchmarks import settings_from_pb, status_to_pb
from edgefleet.v1 import admin_pb2

__all__ = ["FleetAdminBenchmarks"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class FleetAdminBenchmarks:
    _benchmarks: BenchmarkService
    _variants: VariantService
    _streams: Streams
    _push_job: Callable[[BenchmarkJob], Awaitable[None]]

    def _status(self, job: BenchmarkJob) -> admin_pb2.BenchmarkJobStatus:
        cards = {c.variant_id: c for c in self._variants.list_variants(job.model)}
        return status_to_pb(job, self._benchmarks.results(job.job_id), cards)

    @translate_errors
    async def StartBenchmark(
        self, request: admin_pb2.StartBenchmarkRequest, context: Ctx
    ) -> admin_pb2.BenchmarkJobStatus:
        online = frozenset(await asyncio.to_thread(self._streams.online))  # on any replica
        job = await asyncio.to_thread(
            lambda: self._benchmarks.start(
                model=request.model,
                profile=request.profile,
                settings=settings_from_pb(request),
                online=online,
            )
        )
        await self._push_job(job)
        return await asyncio.to_thread(self._status, job)

    @translate_errors
    async def GetBenchmark(
        self, request: admin_pb2.GetBenchmarkRequest, context: Ctx
    ) -> admin_pb2.BenchmarkJobStatus:
        job = await asyncio.to_thread(self._benchmarks.get, request.job_id)
        return await asyncio.to_thread(self._status, job)

    @translate_errors
    async def ListBenchmarks(
        self, request: admin_pb2.ListBenchmarksRequest, context: Ctx
    ) -> admin_pb2.ListBenchmarksResponse:
        jobs = await asyncio.to_thread(self._benchmarks.list_jobs, request.model, request.profile)
        return admin_pb2.ListBenchmarksResponse(jobs=[await asyncio.to_thread(self._status, j) for j in jobs])
