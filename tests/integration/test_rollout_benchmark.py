"""A rollout with the energy objective measures before it chooses: a benchmark job on canary devices of the
rollout, then the plan again on those measurements; the incumbent is kept (and the rollout says so) when no
candidate saves enough over it. Devices are raw protocol clients here, so the figures are the test's
(the real agents' side: tests/e2e/test_rollout_benchmark.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from edgefleet.core.errors import FailedPrecondition
from edgefleet.v1 import common_pb2
from tests.helpers.fleet import admin_client, orchestrator_in_process, variant_id, wait_for
from tests.helpers.raw_device import RawDevice, benchmark_report


async def test_a_rollout_measures_first_and_keeps_or_replaces_the_incumbent_on_what_was_measured(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        incumbent = variant_id(server, "w1.0", "fp32")
        token = server.services.identity.create_token(uses=3)[0]
        async with grpc.aio.insecure_channel(server.address) as channel:
            devices = [RawDevice(channel, token) for _ in range(3)]
            for d in devices:
                await d.connect(active=common_pb2.VariantRef(variant_id=incumbent, model="digits"))
            await wait_for(
                lambda: all(server.services.devices.get(d.device_id).report for d in devices), what="hellos"
            )

            async def measured(rollout_id: str, energy: dict[str, float], default: float) -> list[RawDevice]:
                """The canaries got the rollout's job and report ``energy`` (others: ``default``)."""
                record = server.services.rollouts.get(rollout_id)
                job = server.services.benchmarks.get(record.benchmarks["rpi4"])
                canaries = [d for d in devices if d.device_id in job.devices]
                for d in canaries:
                    await wait_for(
                        lambda d=d: any(j.job_id == job.job_id for j in d.of_kind("benchmark_job")),
                        what="the job on the canary's stream",
                    )
                    [sent] = [j for j in d.of_kind("benchmark_job") if j.job_id == job.job_id]
                    await d.send(benchmark_report(sent, lambda v: energy.get(v.variant_id, default)))
                return canaries

            with admin_client(server) as api:
                first = await asyncio.to_thread(api.start_rollout, "digits", benchmark_devices=2)
                assert first.state == "benchmarking"
                assert set(first.benchmark_jobs) == {"rpi4"}
                # nothing is deployed while its candidates are measured, and it cannot be paused then
                with pytest.raises(FailedPrecondition, match="measuring its candidates"):
                    await asyncio.to_thread(api.control_rollout, first.rollout_id, "pause")
                job = await asyncio.to_thread(api.get_benchmark, first.benchmark_jobs["rpi4"])
                assert incumbent in {c.variant_id for c in job.candidates}  # the incumbent is measured too
                assert len(job.devices) == 2

                # 1. the best candidate saves only 2 % over the incumbent: not worth deploying, kept
                best = next(c.variant_id for c in job.candidates if c.variant_id != incumbent)
                await measured(first.rollout_id, {incumbent: 10e-6, best: 9.8e-6}, 30e-6)
                await wait_for(
                    lambda: server.services.rollouts.get(first.rollout_id).state != "benchmarking",
                    what="the benchmark's end",
                )
                kept = await asyncio.to_thread(api.get_rollout, first.rollout_id)
                assert kept.state == "kept", kept.state_reason
                assert "not surely the 5% worth deploying" in kept.state_reason
                [benchmarked] = await asyncio.to_thread(
                    api.events, kind="rollout.benchmarked", rollout_id=first.rollout_id
                )
                table = benchmarked.details["candidates"]
                assert {row["variant_id"] for row in table} == {c.variant_id for c in job.candidates}
                assert all(row["measured_j"] is not None and row["estimated_j"] for row in table)
                assert await asyncio.to_thread(api.events, kind="rollout.kept", rollout_id=first.rollout_id)
                assert not any(d.of_kind("desired_state") for d in devices)  # nothing was deployed

                # 2. a candidate measured at half the incumbent: it is the choice, canaries go first
                second = await asyncio.to_thread(api.start_rollout, "digits", benchmark_devices=2)
                job = await asyncio.to_thread(api.get_benchmark, second.benchmark_jobs["rpi4"])
                cheap = next(
                    c.variant_id
                    for c in job.candidates
                    if c.variant_id not in (incumbent, second.variants["rpi4"])
                )
                canaries = await measured(second.rollout_id, {incumbent: 10e-6, cheap: 5e-6}, 30e-6)
                await wait_for(
                    lambda: server.services.rollouts.get(second.rollout_id).state != "benchmarking",
                    what="the benchmark's end",
                )
                running = await asyncio.to_thread(api.get_rollout, second.rollout_id)
                assert running.state == "running", running.state_reason
                assert running.variants == {"rpi4": cheap}
                assert set(running.waves[0]) <= {d.device_id for d in canaries}
                [event] = await asyncio.to_thread(
                    api.events, kind="rollout.benchmarked", rollout_id=second.rollout_id
                )
                assert event.rule == "rollout.measured"
                assert "the estimate chose" in event.message
                [wave_one] = [d for d in devices if d.device_id in running.waves[0]]
                await wait_for(lambda: bool(wave_one.of_kind("desired_state")), what="the canary's deploy")
                assert wave_one.of_kind("desired_state")[-1].variant.variant_id == cheap

                # without the benchmark phase the estimate's choice goes out at once, as before
                third = await asyncio.to_thread(api.start_rollout, "digits", benchmark=False)
                assert third.state == "running"
                assert not third.benchmark_jobs
            for d in devices:
                await d.close()
