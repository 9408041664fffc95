"""Benchmark jobs on real agents (real LiteRT and TFLite Micro inference, real downloads of real signed bundles
built by the orchestrator's BundleService), driven by a raw FleetControl server (tests/helpers/controlstub.py)
while the orchestrator's side of jobs is being built. This machine has no energy sensor: the figures are the
CPU-time estimate, labelled so."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest

from edgefleet.agent.app import Agent
from edgefleet.agent.diskio import DISK_THREAD
from edgefleet.core.evalset import EvalSet, load_eval_set
from edgefleet.orchestrator.reference import reference_family
from edgefleet.orchestrator.tools.harness import start_agent
from edgefleet.v1 import common_pb2, control_pb2
from tests.helpers import fakesys
from tests.helpers.controlstub import ControlStub, Signed, control_stub
from tests.helpers.fleet import agent_config, agent_in_process, committed, predict, wait_for
from tests.helpers.processes import Served, stop
from tests.integration.test_agent_disk import disk_writes  # noqa: F401 - the file-write audit fixture

RUNNING, DONE = common_pb2.BENCHMARK_STATE_RUNNING, common_pb2.BENCHMARK_STATE_DONE
FAILED, CANCELLED = common_pb2.BENCHMARK_STATE_FAILED, common_pb2.BENCHMARK_STATE_CANCELLED

#: Samples a bundle carries: the reference family's whole scoring split, each scored once by a job.
SCORING = len(load_eval_set(reference_family().eval_path).split().scoring.y)


def job(
    job_id: str,
    signed: list[Signed],
    *,
    rounds: int = 2,
    turn: float = 0.3,
    deadline: float = 0.0,
    runtime: str = "litert",
) -> control_pb2.OrchestratorMessage:
    return control_pb2.OrchestratorMessage(
        benchmark_job=control_pb2.BenchmarkJob(
            job_id=job_id,
            candidates=[
                control_pb2.BenchmarkCandidate(variant=s.variant, artifact=s.artifact) for s in signed
            ],
            rounds=rounds,
            turn_seconds=turn,
            deadline_seconds=deadline,
            runtime=runtime,
        )
    )


def final(stub: ControlStub, job_id: str) -> control_pb2.BenchmarkReport | None:
    done = [r for r in stub.reports(job_id) if r.state != RUNNING]
    return done[-1] if done else None


async def finished(stub: ControlStub, job_id: str, timeout: float = 120.0) -> control_pb2.BenchmarkReport:  # noqa: ASYNC109
    await wait_for(lambda: final(stub, job_id) is not None, timeout=timeout, what=f"job {job_id} to end")
    report = final(stub, job_id)
    assert report is not None
    return report


def slot_series(agent: Agent) -> dict[tuple[str, str], float]:
    return {
        (s.labels["slot"], s.labels["state"]): s.value
        for family in agent.metrics.registry.collect()
        if family.name == "edgefleet_agent_slot_state"
        for s in family.samples
    }


async def test_a_job_measures_every_candidate_interleaved_while_the_variant_keeps_serving(
    template: Path,
    tmp_path: Path,
    evalset: EvalSet,
    disk_writes: list[tuple[str, str, str]],  # noqa: F811 - the audit fixture, imported
) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        serving = cat.bundle(cat.variant_ids("w1.0", ["fp32"])[0])
        stub.on_connect.append(stub.desired(serving))
        cfg = agent_config(stub.address, tmp_path / "agent", "rpi4", "t", replay_rate=100.0)
        async with agent_in_process(cfg) as agent:
            await wait_for(lambda: committed(agent, serving.variant.variant_id), what="commit")
            slots_file = cfg.data_dir / "slots" / "state.json"
            slots_before, series_before = slots_file.read_bytes(), slot_series(agent)
            candidates = [cat.bundle(v) for v in cat.variant_ids("w0.5")]
            stub.send(job("job-1", candidates))
            x = evalset.x[:1].astype(np.float32)
            seconds: list[float] = []
            answered_by: set[str] = set()
            while final(stub, "job-1") is None:  # the application keeps calling Predict meanwhile
                t0 = time.perf_counter()
                reply = await predict(agent, x)
                seconds.append(time.perf_counter() - t0)
                answered_by.add(reply.variant.variant_id)
                await asyncio.sleep(0.01)
            report = await finished(stub, "job-1")

            # Predict first: no serving call ever waited for more than one benchmark inference
            assert agent.engine.stats.benchmark_inferences > 100
            assert len(seconds) > 20
            assert agent.engine.longest_wait <= 1
            assert max(seconds) < 2.0  # a generous bound; the structural check above is the real one
            # what serves, and the slots, never changed
            assert answered_by == {serving.variant.variant_id}
            assert slots_file.read_bytes() == slots_before
            assert slot_series(agent) == series_before
            assert committed(agent, serving.variant.variant_id)
            assert not (cfg.data_dir / "benchmark" / "scratch").exists()  # scratch removed, results kept

        assert report.state == DONE, report.reason
        assert (report.done, report.total, report.reason) == (3, 3, "")
        ids = [s.variant.variant_id for s in candidates]
        assert [r.variant.variant_id for r in report.results] == ids
        assert agent.benchmarks.runner.order == [(r, v) for r in range(2) for v in ids]  # A B C A B C
        for r in report.results:
            assert r.error == ""
            assert r.turns == 2
            assert r.inferences > 50
            assert r.energy.kind == common_pb2.MEASUREMENT_KIND_ESTIMATED
            assert r.energy.method == "estimate:cpu-time"
            assert 0 < r.energy.dynamic_joules_per_inference < r.energy.gross_joules_per_inference
            assert r.energy.sigma_joules >= 0
            assert 0 < r.latency.p50_seconds <= r.latency.p95_seconds <= r.latency.p99_seconds
            assert r.peak_rss_bytes > 10_000_000
            assert r.scored == SCORING  # each bundled sample (the scoring split) once
            assert r.correct > 0.85 * r.scored
            assert r.serving_inferences > 0  # replay and Predict kept running during its turns
        progress = [r for r in stub.reports("job-1") if r.state == RUNNING]
        assert [p.done for p in progress] == sorted(p.done for p in progress)
        assert {p.done for p in progress} >= {0, 1, 2}
        stored = json.loads((cfg.data_dir / "benchmark" / "reports.json").read_text())
        assert [(j["job_id"], j["report"]["state"]) for j in stored["jobs"]] == [("job-1", "done")]
        # every file the job wrote (downloads, the report, the scratch removal) was written on the disk thread
        written = [w for w in disk_writes if "/benchmark/" in w[1]]
        assert any("reports.json" in w[1] for w in written)
        assert any("/scratch/downloads/" in w[1] for w in written)
        assert [w for w in disk_writes if not w[2].startswith(DISK_THREAD)] == []


async def test_turns_run_at_the_serving_rate_or_back_to_back_when_nothing_serves(
    template: Path, tmp_path: Path
) -> None:
    """What an inference costs depends on its cadence: between calls caches go cold, and at a hundred calls a
    second that (not the model's arithmetic) can be most of it. Measured back to back, every candidate
    looked cheaper than it serves, and a variant chosen on that figure saved nothing in service. A device
    that serves runs its candidates at its serving rate, one inference per hand-off; one that serves nothing
    runs them back to back."""
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        serving = cat.bundle(cat.variant_ids("w1.0", ["fp32"])[0])
        stub.on_connect.append(stub.desired(serving))
        signed = [cat.bundle(v) for v in cat.variant_ids("w0.5", ["fp32", "fp16"])]
        busy = agent_config(stub.address, tmp_path / "busy", "rpi4", "t", replay_rate=40.0)
        async with agent_in_process(busy) as agent:
            await wait_for(lambda: committed(agent, serving.variant.variant_id), what="commit")
            stub.send(job("paced", signed, rounds=2, turn=1.0))
            paced = await finished(stub, "paced")
        idle = agent_config(stub.address, tmp_path / "idle", "rpi4", "t")
        async with agent_in_process(idle) as agent:
            await wait_for(lambda: committed(agent, serving.variant.variant_id), what="commit")
            stub.send(job("hot", signed, rounds=2, turn=1.0))
            hot = await finished(stub, "hot")
    for r in paced.results:
        assert r.error == ""
        # what served during the job: replay offers 40/s (nothing else serves), and a loaded machine may
        # serve less (the replay never catches up more than 1 s of backlog), never more
        assert 5 < r.pace_per_second < 80, r.pace_per_second
        # never faster than the pace: at most one inference per 1/pace seconds of its two 1 s turns (+1 each)
        assert r.inferences <= r.turns * (r.pace_per_second * 1.0 + 1) + 1
    for r in hot.results:
        assert r.pace_per_second == 0
        assert r.inferences > 10 * max(p.inferences for p in paced.results)


async def test_reports_are_resent_on_every_stream_and_a_finished_job_is_never_run_twice(
    template: Path, tmp_path: Path
) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        fp32 = cat.variant_ids("w0.5", ["fp32"])[0]
        # this device reports the operation-count estimate: a candidate's figure is its own card's
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t", estimator="ops")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            first = job("job-2", [cat.bundle(fp32)], rounds=1)
            stub.send(first)
            report = await finished(stub, "job-2")
            assert report.state == DONE, report.reason
            assert agent.benchmarks.finished == 1
            [r] = report.results
            ops = cat.services.variants.get(fp32).ops_energy.total_j
            assert r.energy.method == "estimate:ops"
            assert r.energy.gross_joules_per_inference == pytest.approx(ops)
            assert r.energy.dynamic_joules_per_inference == pytest.approx(ops)  # no idle part in that model
            streams, sent = stub.streams, len(stub.reports("job-2"))

            stub.drop()  # a new stream: the final report goes again, unasked
            await wait_for(
                lambda: stub.streams > streams and len(stub.reports("job-2")) > sent, what="resend"
            )
            assert stub.reports("job-2")[-1] == report

            sent = len(stub.reports("job-2"))
            stub.send(first)  # the orchestrator sends the same job again: answered from the store
            await wait_for(lambda: len(stub.reports("job-2")) > sent, what="answer")
            assert stub.reports("job-2")[sent:] == [report]
            assert agent.benchmarks.finished == 1
            assert agent.benchmarks.open_jobs() == []


async def test_an_empty_candidate_list_cancels_the_running_job(template: Path, tmp_path: Path) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            long_job = job("job-3", [cat.bundle(v) for v in cat.variant_ids("w0.5")], rounds=500)
            stub.send(long_job)
            await wait_for(lambda: len(agent.benchmarks.runner.order) >= 2, what="turns")
            stub.send(job("job-3", []))
            report = await finished(stub, "job-3")
            assert report.state == CANCELLED
            assert "cancelled" in report.reason
            assert agent.benchmarks.open_jobs() == []
            await agent.benchmarks.flush()
            assert not (cfg.data_dir / "benchmark" / "scratch").exists()
            sent = len(stub.reports("job-3"))
            stub.send(long_job)  # sent again later: never run, the cancellation stands
            await wait_for(lambda: len(stub.reports("job-3")) > sent, what="answer")
            assert [r.state for r in stub.reports("job-3")[sent:]] == [CANCELLED]
            # a job withdrawn before it ever ran is reported cancelled too
            stub.send(job("job-never", []))
            assert (await finished(stub, "job-never")).state == CANCELLED


async def test_the_deadline_stops_a_job_with_what_it_measured(template: Path, tmp_path: Path) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            signed = [cat.bundle(v) for v in cat.variant_ids("w0.5")]
            stub.send(job("job-4", signed, rounds=1000, turn=0.3, deadline=10.0))
            report = await finished(stub, "job-4")
            assert report.state == DONE
            assert report.reason.startswith("deadline: ")
            assert all(0 < r.turns < 1000 for r in report.results)
            assert (
                max(r.turns for r in report.results) - min(r.turns for r in report.results) <= 1
            )  # interleaved
            stub.send(job("job-5", signed, deadline=1e-3))  # no time even to download
            report = await finished(stub, "job-5")
            assert report.state == FAILED
            assert report.reason.startswith("deadline: ")


async def test_jobs_that_cannot_run_fail_with_the_reason_and_bad_candidates_carry_an_error(
    template: Path, tmp_path: Path, evalset: EvalSet
) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        fp32, static = cat.variant_ids("w0.5", ["fp32"])[0], cat.variant_ids("w0.5", ["static_wi8_ai8"])[0]
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            # a bundle whose signature does not verify: the whole job fails, nothing is kept
            forged = cat.bundle(fp32)
            bad = Signed(forged.variant, control_pb2.ArtifactInfo())
            bad.artifact.CopyFrom(forged.artifact)
            bad.artifact.signature = bytes(64)
            stub.send(job("job-6", [cat.bundle(static), bad]))
            report = await finished(stub, "job-6")
            assert report.state == FAILED
            assert report.reason.startswith("download refused: ")
            assert "signature" in report.reason
            # more than the disk holds
            huge = Signed(forged.variant, control_pb2.ArtifactInfo())
            huge.artifact.CopyFrom(forged.artifact)
            huge.artifact.size_bytes = 1 << 60
            stub.send(job("job-7", [huge]))
            report = await finished(stub, "job-7")
            assert (report.state, report.reason.split(":")[0]) == (FAILED, "no space")
            # a candidate whose self-test disagrees is reported with its error; the others are measured
            wrong = cat.custom(
                fp32, evalset.head(64), expected=tuple((int(y) + 1) % 10 for y in evalset.y[:64])
            )
            stub.send(job("job-8", [wrong, cat.bundle(static)], rounds=1))
            report = await finished(stub, "job-8")
            assert report.state == DONE, report.reason
            failed, measured = report.results
            assert failed.error.startswith("self-test failed")
            assert failed.turns == 0
            assert failed.scored == 64  # its accuracy is still reported
            assert (measured.error, measured.turns) == ("", 1)
            # a job that does not make sense is refused at the edge, never run
            stub.send(job("job-9", [cat.bundle(static)], turn=float("nan")))
            report = await finished(stub, "job-9")
            assert report.state == FAILED
            assert "turn_seconds" in report.reason
            assert agent.benchmarks.open_jobs() == []


async def test_tflite_micro_candidates_are_measured_under_tflite_micro(
    template: Path, tmp_path: Path
) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        static = [cat.bundle(v) for v in cat.variant_ids(recipes=["static_wi8_ai8"])]
        hybrid = cat.bundle(cat.variant_ids("w0.5", ["dynamic_wi8_afp32"])[0])
        cfg = agent_config(stub.address, tmp_path / "a", "mcu-gateway", "t")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            stub.send(job("job-micro", [*static, hybrid], rounds=2, runtime="tflite-micro"))
            report = await finished(stub, "job-micro")
        assert report.state == DONE, report.reason
        *measured, refused = report.results
        for r in measured:
            assert (r.error, r.turns) == ("", 2)
            assert r.energy.gross_joules_per_inference > 0
            assert r.scored == SCORING
            assert r.correct > 0.85 * SCORING
        assert refused.error  # a hybrid model: TFLite Micro cannot run it
        assert refused.turns == 0


async def test_with_a_sensor_the_device_reading_is_shared_and_telemetry_is_not_fooled(
    template: Path, tmp_path: Path
) -> None:
    """A fake INA219 tree (this machine has none): 2 W while idle, 5 W while the benchmark runs."""
    sysfs = tmp_path / "sys"
    power = fakesys.ina219(sysfs, power_uw=2_000_000, shunt_uohm=100_000)
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        cfg = agent_config(stub.address, tmp_path / "a", "rpi4", "t", sysfs_root=sysfs)
        async with agent_in_process(cfg) as agent:
            assert agent.telemetry.meter.name == "hwmon:ina219:power1_input"
            await wait_for(lambda: agent.telemetry.idle_watts is not None, what="an idle window")
            stub.send(job("job-s", [cat.bundle(v) for v in cat.variant_ids("w0.5")], rounds=2, turn=0.5))
            await wait_for(lambda: agent.engine.stats.benchmark_inferences > 0, what="benchmark inferences")
            power.write_text("5000000\n")  # the rail rises when the candidates run
            report = await finished(stub, "job-s")
            idle_after = agent.telemetry.idle_watts
            power.write_text("2000000\n")
        assert report.state == DONE, report.reason
        for r in report.results:
            assert (r.energy.kind, r.energy.method) == (
                common_pb2.MEASUREMENT_KIND_MEASURED,
                "hwmon:ina219:power1_input",
            )
            gross, dynamic = r.energy.gross_joules_per_inference, r.energy.dynamic_joules_per_inference
            # per turn: idle part = 2 W x T / n, dynamic = its CPU share of the 3 W above idle x T / n, so the
            # dynamic figure is at most 3/2 of the idle part (share 1) and more than nothing
            assert 0 < dynamic <= 1.5 * (gross - dynamic) * (1 + 1e-9)
        # windows in which the benchmark ran are flagged (the rail reading includes it) and never taken for
        # idle windows: the baseline stays at 2 W although nothing served and the rail read 5 W
        flagged = [w for w in stub.windows() if any("benchmark inferences ran" in f for f in w.flags)]
        assert flagged
        assert all(not w.HasField("energy") for w in flagged)
        assert idle_after == pytest.approx(2.0, rel=0.1)


async def test_an_agent_process_resends_its_final_reports_after_a_restart_and_never_reruns_them(
    template: Path, tmp_path: Path
) -> None:
    """Between processes: the report is kept on disk by one agent process and sent by the next."""
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        served = Served(stub.address, stub.address, tmp_path, secure=False)
        data = tmp_path / "agent"
        the_job = job("job-p", [cat.bundle(v) for v in cat.variant_ids("w0.5", ["fp32", "static_wi8_ai8"])])
        proc = start_agent(served, data, "rpi4", "t", log=tmp_path / "agent1.log")
        try:
            await wait_for(lambda: stub.streams >= 1, timeout=60, what="the agent's stream")
            stub.send(the_job)
            report = await finished(stub, "job-p")
        finally:
            assert await asyncio.to_thread(stop, proc) == 0
        assert report.state == DONE, report.reason
        streams, sent = stub.streams, len(stub.reports("job-p"))

        proc = start_agent(served, data, "rpi4", "t", log=tmp_path / "agent2.log")
        try:
            await wait_for(lambda: len(stub.reports("job-p")) > sent, timeout=60, what="the resent report")
            assert stub.streams > streams
            assert stub.reports("job-p")[sent:] == [report]  # unasked, from the data directory
            stub.send(the_job)  # the orchestrator did not get it and asks again: not run again
            await wait_for(lambda: len(stub.reports("job-p")) > sent + 1, what="the answer")
            assert stub.reports("job-p")[sent:] == [report, report]
        finally:
            assert await asyncio.to_thread(stop, proc) == 0
        assert stub.enrolled == 1  # the same device both times
