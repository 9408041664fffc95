"""One benchmark job on this device: room check, downloads (verified as for a deployment, into scratch),
load and self-test of every candidate, then interleaved turns until the rounds are done or the deadline
comes, and the report. The serving variant keeps serving throughout; no slot is touched."""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from edgefleet.agent.connection.messages import ArtifactSpec
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.energy.estimators import CpuTimeEstimator, OpsEstimator
from edgefleet.agent.energy.meters import Meter
from edgefleet.agent.workload.benchmark import turns
from edgefleet.agent.workload.benchmark.figures import attribute, interleave
from edgefleet.agent.workload.benchmark.model import (
    DEFAULT_ROUNDS,
    DEFAULT_TURN_SECONDS,
    BenchmarkJob,
    BenchmarkReport,
    BenchmarkState,
)
from edgefleet.agent.workload.benchmark.progress import CandidateProgress
from edgefleet.agent.workload.engine import Engine
from edgefleet.core.bundle import run_self_test
from edgefleet.core.errors import EdgefleetError, NotFound, PermissionDenied, ResourceExhausted

__all__ = ["DOWNLOAD_ATTEMPTS", "JobFailed", "JobRunner", "RunnerParts", "ServingPace"]

log = logging.getLogger("edgefleet.agent.workload.benchmark")
DOWNLOAD_ATTEMPTS = 3
#: Serving inferences per second below which turns run back to back (nothing to be like).
MIN_PACE = 1.0
State = BenchmarkState


class JobFailed(Exception):
    """The job cannot run; the message is the report's reason."""


@dataclass(frozen=True, slots=True)
class RunnerParts:
    engine: Engine
    disk: DiskExecutor
    #: Downloads and verifies one candidate's bundle into ``scratch``; returns the verified file.
    fetch: Callable[[ArtifactSpec], Awaitable[Path]]
    scratch: Path
    #: The device's meter (the telemetry's: forked for every turn).
    meter: Callable[[], Meter]
    #: The idle power the telemetry learnt for a sensor (None: not yet).
    idle_watts: Callable[[], float | None]
    threads: int = 1
    clock: Callable[[], float] = time.monotonic


class ServingPace:
    """The pace a candidate's turn runs at: the device's serving rate (Predict, replay, canary) lately,
    before and during the job; below ``MIN_PACE`` per second nothing really serves, and turns run back to
    back."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def per_second(self) -> float:
        rate = self._engine.stats.serving_rate()
        return rate if rate >= MIN_PACE else 0.0


def _free_bytes(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(directory).free


class JobRunner:
    def __init__(self, parts: RunnerParts) -> None:
        self._p = parts
        #: The turns of the last job in the order they were measured: (round, variant id).
        self.order: list[tuple[int, str]] = []

    async def run(
        self, job: BenchmarkJob, received_at: float, publish: Callable[[BenchmarkReport], None]
    ) -> BenchmarkReport:
        """Run ``job`` (received at ``received_at`` on the parts' clock); ``publish`` gets the RUNNING
        reports; returns the final one (DONE or FAILED). Cancelling the task stops it where it is."""
        p = self._p
        stop_at = received_at + job.deadline_seconds if job.deadline_seconds > 0 else math.inf
        cands = [CandidateProgress(c.variant) for c in job.candidates]
        finished: set[int] = set()
        serving = ServingPace(p.engine)

        def report(state: BenchmarkState, reason: str = "") -> BenchmarkReport:
            done = tuple(cands[i].result() for i in sorted(finished))
            return BenchmarkReport(job.job_id, state, reason, done, len(finished), len(cands))

        def finish(i: int) -> None:
            finished.add(i)
            publish(report(State.RUNNING))

        publish(report(State.RUNNING))
        try:
            await self._download(job, cands, stop_at)
        except JobFailed as failed:
            return report(State.FAILED, str(failed))
        for i, cand in enumerate(cands):
            await self._prepare(job, cand)
            if cand.error:
                finish(i)
        ready = [i for i, c in enumerate(cands) if not c.error]
        rounds = job.rounds or DEFAULT_ROUNDS
        meter = p.meter()
        seconds = max(job.turn_seconds or DEFAULT_TURN_SECONDS, meter.min_window_s)
        idle = await self._idle(meter, seconds, stop_at)
        measured = 0
        cut = False
        self.order = []
        for r, k in interleave(len(ready), rounds):
            i = ready[k]
            if i in finished:
                continue
            outcome = await self._turn(job, cands[i], seconds, stop_at, idle, serving.per_second())
            if outcome is None and not cands[i].error:
                cut = True
                break
            if outcome is not None:
                measured += 1
                self.order.append((r, cands[i].variant.variant_id))
            if cands[i].error or r == rounds - 1:
                finish(i)
        for i in range(len(cands)):
            finished.add(i)
        if cut and ready and measured == 0:
            return report(State.FAILED, f"deadline: {job.deadline_seconds:g} s passed before any turn")
        total = len(ready) * rounds
        reason = f"deadline: {measured} of {total} turns measured" if cut else ""
        if not ready:
            reason = "no candidate could be measured: each one says why"
        return report(State.DONE, reason)

    # ---- steps ----
    async def _download(self, job: BenchmarkJob, cands: list[CandidateProgress], stop_at: float) -> None:
        p = self._p
        specs = {c.artifact.sha256: c.artifact for c in job.candidates}
        need = sum(s.size for s in specs.values())
        free = await p.disk.run(_free_bytes, p.scratch)
        if need > free:
            raise JobFailed(
                f"no space: the {len(specs)} candidate bundle(s) need {need} B, {p.scratch} has {free} B free"
            )
        paths: dict[str, Path] = {}
        for sha, spec in specs.items():
            left = stop_at - p.clock()
            try:
                async with asyncio.timeout(None if math.isinf(left) else max(0.0, left)):
                    paths[sha] = await self._fetch(spec)
            except TimeoutError:
                raise JobFailed(
                    f"deadline: {job.deadline_seconds:g} s passed while downloading the candidates"
                ) from None
        for cand, candidate in zip(cands, job.candidates, strict=True):
            cand.path = paths[candidate.artifact.sha256]

    async def _fetch(self, spec: ArtifactSpec) -> Path:
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                return await self._p.fetch(spec)
            except ResourceExhausted as exc:
                raise JobFailed(f"no space: {exc.message}") from exc
            except (PermissionDenied, NotFound) as exc:
                raise JobFailed(f"download refused: {exc.message}") from exc
            except EdgefleetError as exc:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise JobFailed(f"download failed {attempt} times: {exc.message}") from exc
                log.warning("benchmark download of %s failed (%s); retrying", spec.sha256[:12], exc.message)
                await asyncio.sleep(attempt)
        raise AssertionError("unreachable")

    async def _prepare(self, job: BenchmarkJob, cand: CandidateProgress) -> None:
        """Load and self-test; the self-test pass scores every bundled sample once (the accuracy)."""
        assert cand.path is not None
        try:
            loaded = await turns.load(cand.path, job.runtime, self._p.threads)
        except EdgefleetError as exc:
            cand.error = f"does not load: {exc.message}"
            return
        try:
            classes = await turns.score_all(self._p.engine, loaded)
        except Exception as exc:  # the runtime's own errors (RuntimeError, ValueError ...)
            cand.error = f"inference error: {exc}"
            return
        cand.scored, cand.correct = len(classes), int((classes == loaded.labels).sum())
        cand.peak_rss = loaded.peak_rss
        selftest = run_self_test(lambda _x: classes, loaded.bundle)
        if not selftest.passed:
            cand.error = selftest.reason

    async def _idle(self, meter: Meter, seconds: float, stop_at: float) -> Callable[[Meter], float | None]:
        """Where each turn's idle power comes from: the estimator's own figure (the operation-count model has
        none: its energy is all dynamic), or for a sensor the telemetry's learnt baseline, else an idle turn
        measured now (kept only when nothing served during it)."""
        if isinstance(meter, CpuTimeEstimator):
            return lambda m: m.idle_watts if isinstance(m, CpuTimeEstimator) else None
        if isinstance(meter, OpsEstimator):
            return lambda _m: 0.0
        learnt = self._p.idle_watts()
        if learnt is None:
            idle = await turns.measure_turn(
                self._p.engine,
                self._p.disk,
                meter.fork(),
                None,
                seconds=seconds,
                stop_at=stop_at,
                idle_watts=lambda: None,
                clock=self._p.clock,
            )
            t = idle.turn if idle is not None else None
            if t is not None and not t.flags and t.serving_inferences == 0 and t.seconds > 0:
                learnt = t.joules / t.seconds

        def sensor_idle(_meter: Meter) -> float | None:
            now = self._p.idle_watts()
            return now if now is not None else learnt

        return sensor_idle

    async def _turn(
        self,
        job: BenchmarkJob,
        cand: CandidateProgress,
        seconds: float,
        stop_at: float,
        idle: Callable[[Meter], float | None],
        pace: float,
    ) -> turns.TurnOutcome | None:
        """Load, warm up, measure one turn at ``pace``; None when the deadline comes first (or the
        candidate failed)."""
        p = self._p
        assert cand.path is not None
        if p.clock() + seconds > stop_at:
            return None
        try:
            loaded = await turns.load(cand.path, job.runtime, p.threads)
            await turns.warm_up(p.engine, loaded)
            base = p.meter()
            ops = loaded.manifest.ops_energy_joules
            meter = OpsEstimator(lambda: ops) if isinstance(base, OpsEstimator) else base.fork()
            outcome = await turns.measure_turn(
                p.engine,
                p.disk,
                meter,
                loaded,
                seconds=seconds,
                stop_at=stop_at,
                idle_watts=lambda: idle(meter),
                clock=p.clock,
                pace=pace,
            )
        except EdgefleetError as exc:
            cand.error = f"failed during its turns: {exc.message}"
            return None
        except Exception as exc:  # the runtime's own errors
            cand.error = f"inference error during its turns: {exc}"
            return None
        if outcome is None:
            return None
        cand.turns += 1
        cand.latencies.extend(outcome.latencies)
        cand.serving += outcome.turn.serving_inferences
        cand.peak_rss = max(cand.peak_rss, loaded.peak_rss)
        cand.kind, cand.method = outcome.kind, outcome.method
        cand.paces.append(pace)
        energy = attribute(outcome.turn)
        if energy is not None:
            cand.energies.append(energy)
        return outcome
