"""Benchmark jobs through the real control plane: the candidates chosen, the job on the device's stream
(again after a reconnect), only its bundles fetchable, its report stored and the plan ranking on it.
The device here is a raw protocol client (the agent's side has its own tests with real agents)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from edgefleet.v1 import control_pb2, control_pb2_grpc
from tests.helpers.fleet import admin_client, orchestrator_in_process, wait_for
from tests.helpers.raw_device import RawDevice, benchmark_report


async def test_a_benchmark_job_measures_candidates_and_the_plan_ranks_on_them(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        token = server.services.identity.create_token()[0]
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub: Any = control_pb2_grpc.FleetControlStub(channel)
            device = RawDevice(channel, token)
            await device.connect()
            me = device.metadata
            await wait_for(
                lambda: server.services.devices.get(device.device_id).report is not None, what="hello"
            )
            with admin_client(server) as api:
                job = await asyncio.to_thread(api.start_benchmark, "digits", "rpi4", top_k=2, rounds=5)
            await wait_for(lambda: bool(device.of_kind("benchmark_job")), what="the job on the stream")
            [sent] = device.of_kind("benchmark_job")
            assert sent.job_id == job.job_id
            assert {c.variant.variant_id for c in sent.candidates} == {c.variant_id for c in job.candidates}
            assert any("float32 base" in c.why for c in job.candidates)
            # the job's bundles are fetchable by this device (and only while the job is open)
            first = sent.candidates[0].artifact.sha256
            fetched = [
                chunk
                async for chunk in stub.FetchArtifact(
                    control_pb2.FetchArtifactRequest(sha256=first), metadata=me
                )
            ]
            assert sum(len(c.data) for c in fetched) == sent.candidates[0].artifact.size_bytes

            # the device measured: the cheapest by far is a float32 variant (as real CPU kernels say)
            await device.send(
                benchmark_report(sent, lambda v: 5e-6 if v.recipe == "fp32" else 5e-5 + len(v.recipe) * 1e-7)
            )
            await wait_for(lambda: server.services.benchmarks.get(sent.job_id).state == "done", what="done")
            with admin_client(server) as api:
                shown = await asyncio.to_thread(api.get_benchmark, sent.job_id)
                [plan] = await asyncio.to_thread(api.plan, "digits", ("rpi4",))
            assert len(shown.results) == len(sent.candidates)
            measured = [c for c in plan.candidates if c.figures.energy_figure == "estimated-on-device"]
            assert {c.variant.variant_id for c in measured} == {c.variant.variant_id for c in sent.candidates}
            assert plan.chosen is not None
            assert plan.chosen.variant.recipe == "fp32"  # ranked on what the device measured
            assert "benchmark job" in plan.chosen.figures.energy_source
            # a finished job is no longer sent or fetchable
            denied = stub.FetchArtifact(control_pb2.FetchArtifactRequest(sha256=first), metadata=me)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                [_ async for _ in denied]
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            await device.close()
