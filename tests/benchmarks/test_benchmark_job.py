"""One real benchmark job of the 18 reference variants (3 widths x 6 recipes) on this machine: a real agent
(in-process, LiteRT), real signed bundles built by the orchestrator's BundleService, downloaded over
FleetControl from a raw server (the orchestrator's side of jobs is being built), 3 interleaved rounds of 1 s
turns. Then the full-integer variants under TFLite Micro, as an MCU gateway would run them. Prints per
candidate: energy per inference (gross and dynamic, mean over turns, sigma = standard error over turns, with
the meter's kind and method; this machine has no sensor, so the CPU-time estimate with rpi4's power figures),
latency p50/p95, accuracy on the distinct bundled samples, peak RSS, and how long the job took.

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_benchmark_job.py)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from edgefleet.agent.app import Agent
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.server.app import open_services
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.orchestrator.variants.recipes import DEFAULT_RECIPES
from edgefleet.v1 import common_pb2, control_pb2
from tests.helpers.controlstub import ControlStub, control_stub
from tests.helpers.fleet import agent_config, agent_in_process, wait_for

ROUNDS, TURN_S = 3, 1.0


def build_all(root: Path) -> Path:
    services = open_services(ServerConfig(data_dir=root, insecure=True, api_listen=""))
    fam = reference_family()
    for ref in fam.models:
        services.variants.build(
            BuildRequest(
                model="digits",
                base=ref.path.read_bytes(),
                eval_npz=fam.eval_path.read_bytes(),
                base_name=ref.name.split("_")[1],
                recipes=DEFAULT_RECIPES,
            )
        )
    services.close()
    return root


async def run_job(
    stub: ControlStub, job_id: str, variant_ids: list[str], runtime: str
) -> tuple[float, object]:
    signed = [stub.catalogue.bundle(v) for v in variant_ids]
    message = control_pb2.BenchmarkJob(
        job_id=job_id,
        candidates=[control_pb2.BenchmarkCandidate(variant=s.variant, artifact=s.artifact) for s in signed],
        rounds=ROUNDS,
        turn_seconds=TURN_S,
        runtime=runtime,
    )
    t0 = time.monotonic()
    stub.send(control_pb2.OrchestratorMessage(benchmark_job=message))

    def final() -> list[control_pb2.BenchmarkReport]:
        return [r for r in stub.reports(job_id) if r.state != common_pb2.BENCHMARK_STATE_RUNNING]

    await wait_for(lambda: bool(final()), timeout=900, what=job_id)
    return time.monotonic() - t0, final()[-1]


def table(stub: ControlStub, report: control_pb2.BenchmarkReport, seconds: float, runtime: str) -> None:
    cards = {c.variant_id: c for c in stub.catalogue.services.variants.list_variants("digits")}
    state = common_pb2.BenchmarkState.Name(report.state)
    print(
        f"\n{runtime}: {len(report.results)} candidates, {ROUNDS} rounds x {TURN_S:g} s, {state}, {seconds:.1f} s"
    )
    print(
        f"{'variant':<28}{'gross µJ':>11}{'± SE':>10}{'dyn µJ':>9}{'p50 µs':>9}{'p95 µs':>9}"
        f"{'accuracy':>14}{'RSS MB':>8}{'turns':>6}{'inferences':>11}  method"
    )
    for r in report.results:
        card = cards[r.variant.variant_id]
        name = f"{card.base_name} {card.recipe}"
        if r.error:
            print(f"{name:<28}  error: {r.error[:90]}")
            continue
        e = r.energy
        print(
            f"{name:<28}{e.gross_joules_per_inference * 1e6:>11.2f}{e.sigma_joules * 1e6:>10.2f}"
            f"{e.dynamic_joules_per_inference * 1e6:>9.2f}{r.latency.p50_seconds * 1e6:>9.1f}"
            f"{r.latency.p95_seconds * 1e6:>9.1f}{r.correct:>6}/{r.scored:<3} {r.correct / r.scored:>4.0%}"
            f"{r.peak_rss_bytes / 1e6:>8.0f}{r.turns:>6}{r.inferences:>11}  "
            f"{common_pb2.MeasurementKind.Name(e.kind).removeprefix('MEASUREMENT_KIND_').lower()} {e.method}"
        )


@asynccontextmanager
async def measuring_agent(template: Path, tmp_path: Path) -> AsyncIterator[tuple[ControlStub, Agent]]:
    """A control stub and a real agent connected to it, measuring with rpi4's power model."""
    async with control_stub(template, tmp_path) as stub:
        power = stub.rpi4_power_model()
        stub.on_connect[:] = [power]
        async with agent_in_process(agent_config(stub.address, tmp_path / "a", "rpi4", "t")) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            idle = power.config.idle_watts
            await wait_for(lambda: agent.telemetry.idle_watts == idle, what="the power model")
            yield stub, agent


async def test_one_benchmark_job_of_the_18_reference_variants(tmp_path: Path) -> None:
    template = build_all(tmp_path / "template")
    async with measuring_agent(template, tmp_path) as (stub, agent):
        every = stub.catalogue.variant_ids()
        assert len(every) == 18
        seconds, report = await run_job(stub, "bench-litert", every, "litert")
        table(stub, report, seconds, "litert")  # type: ignore[arg-type]
        static = stub.catalogue.variant_ids(recipes=["static_wi8_ai8"])
        seconds_m, micro = await run_job(stub, "bench-micro", static, "tflite-micro")
        table(stub, micro, seconds_m, "tflite-micro")  # type: ignore[arg-type]
        assert agent.engine.longest_wait <= 1
    assert report.state == common_pb2.BENCHMARK_STATE_DONE  # type: ignore[attr-defined]
    assert all(r.turns == ROUNDS and not r.error for r in report.results)  # type: ignore[attr-defined]
