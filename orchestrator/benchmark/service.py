"""Benchmark jobs: pick the candidates worth measuring and the canary devices, hand the job to them, take
their reports, and turn the results into the measured figures plans rank on (ahead of any estimate)."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from edgefleet.core.errors import FailedPrecondition, NotFound
from edgefleet.orchestrator.benchmark.model import (
    BenchmarkJob,
    BenchmarkResult,
    BenchmarkSettings,
    DeviceReport,
    JobState,
)
from edgefleet.orchestrator.selection import ProfilePlan
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.store.base import Store

__all__ = ["BenchmarkService", "candidates_worth_measuring"]

DEFAULT_SETTINGS = BenchmarkSettings()

#: Seconds past a job's deadline after which it is closed with what arrived (devices that never reported).
GRACE_SECONDS = 60.0
FINAL = ("done", "failed", "cancelled")


def candidates_worth_measuring(plan: ProfilePlan, top_k: int, incumbents: set[str]) -> dict[str, str]:
    """Variant id -> why: the estimate's Pareto front, the K best by the plan's ranking, the float32 base
    of each of those widths (never one that cannot run on the profile or was rolled back there), and what
    devices run now, whatever the profile's rules say of it: it is what a choice must beat."""
    runnable = [
        c for c in plan.candidates if c.runnable and not any(r.startswith("rolled back") for r in c.reasons)
    ]
    why: dict[str, list[str]] = defaultdict(list)
    for c in runnable:
        if c.pareto:
            why[c.variant.variant_id].append("pareto")
    for c in [c for c in runnable if c.feasible][:top_k]:
        why[c.variant.variant_id].append("top-k")
    widths = {c.variant.base_name for c in runnable if c.variant.variant_id in why}
    for c in runnable:
        if c.variant.recipe == "fp32" and c.variant.base_name in widths:
            why[c.variant.variant_id].append("float32 base")
    for c in plan.candidates:
        if c.variant.variant_id in incumbents:
            why[c.variant.variant_id].append("incumbent")
    return {vid: ", ".join(dict.fromkeys(reasons)) for vid, reasons in why.items()}


class BenchmarkService:
    def __init__(
        self,
        *,
        store: Store,
        plans: PlanService,
        devices: DeviceService,
        bundles: BundleService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._plans = plans
        self._devices = devices
        self._bundles = bundles
        self._clock = clock

    # ---- start ----
    def start(
        self,
        *,
        model: str,
        profile: str,
        settings: BenchmarkSettings = DEFAULT_SETTINGS,
        online: frozenset[str] = frozenset(),
        among: frozenset[str] = frozenset(),
    ) -> BenchmarkJob:
        """A job measuring the candidates worth it on ``settings.devices`` canaries of the profile (online
        ones first; only devices in ``among`` when given)."""
        check_name("model", model)
        fleet = [
            d
            for d in self._devices.list_devices(profile)
            if not d.revoked and (not among or d.device_id in among)
        ]
        if not fleet:
            raise NotFound(f"no enrolled device of profile {profile!r} to measure on")
        canaries = sorted(fleet, key=lambda d: (d.device_id not in online, d.device_id))[: settings.devices]
        incumbents = {d.report.active_variant for d in fleet if d.report and d.report.active_variant}
        plan = self._plans.plan(model, [profile])[0]
        why = candidates_worth_measuring(plan, settings.top_k, incumbents)
        if not why:
            raise FailedPrecondition(f"no variant of {model!r} can run on {profile}: nothing to measure")
        figures = {c.variant.variant_id: c.figures for c in plan.candidates}
        for variant_id in why:
            self._bundles.ensure(variant_id)
        job = BenchmarkJob(
            job_id="bj-" + secrets.token_hex(4),
            model=model,
            profile=profile,
            candidates=tuple(why),
            why=why,
            devices=tuple(d.device_id for d in canaries),
            rounds=settings.rounds,
            turn_seconds=settings.turn_seconds,
            deadline_seconds=settings.deadline_seconds,
            created=self._clock(),
            estimates={
                vid: {
                    "energy_j": figures[vid].energy_j,
                    "latency_s": figures[vid].latency_p95_s,
                    "kind": figures[vid].energy_figure,
                }
                for vid in why
            },
        )
        self._store.put_benchmark_job(job)
        return job

    # ---- devices ----
    def open_jobs_for(self, device_id: str) -> list[BenchmarkJob]:
        """Jobs a device should be running (re-sent on every connection: level-triggered)."""
        return [
            j
            for j in self._store.list_benchmark_jobs(states=(JobState.OPEN,))
            if device_id in j.devices and j.device_states.get(device_id, "") not in FINAL
        ]

    def artifacts_for(self, device_id: str) -> frozenset[str]:
        """The bundles of the jobs addressed to the device (FetchArtifact serves it these too)."""
        out = set()
        for job in self.open_jobs_for(device_id):
            for variant_id in job.candidates:
                bundle = self._store.get_bundle(variant_id)
                if bundle is not None:
                    out.add(bundle.sha256)
        return frozenset(out)

    def record(self, device_id: str, report: DeviceReport) -> BenchmarkJob | None:
        """A device's report: its results are stored (a report again replaces them), and the job is done
        once every device reported a final state. A report for an unknown job, or from a device the job was
        not sent to, is ignored (None)."""
        job = self._store.get_benchmark_job(report.job_id)
        if job is None or device_id not in job.devices:
            return None
        known = set(job.candidates)
        results = [
            replace(
                r,
                job_id=job.job_id,
                device_id=device_id,
                profile=job.profile,
                model=job.model,
                reported=self._clock(),
            )
            for r in report.results
            if r.variant_id in known
        ]
        if results:
            self._store.put_benchmark_results(results)

        def step(j: BenchmarkJob) -> BenchmarkJob:
            states = {**j.device_states, device_id: report.state}
            reasons = {**j.device_reasons, device_id: report.reason[:500]}
            finished = all(states.get(d, "") in FINAL for d in j.devices)
            state = JobState.DONE if finished and j.state == JobState.OPEN else j.state
            return replace(j, device_states=states, device_reasons=reasons, state=state)

        return self._store.update_benchmark_job(job.job_id, step)

    def expire(self) -> list[BenchmarkJob]:
        """Close open jobs well past their deadline with what arrived (a device may never report)."""
        now, out = self._clock(), []
        for job in self._store.list_benchmark_jobs(states=(JobState.OPEN,)):
            if now > job.created + job.deadline_seconds + GRACE_SECONDS:
                silent = [d for d in job.devices if job.device_states.get(d, "") not in FINAL]
                reason = f"deadline passed; no final report from {', '.join(silent)}"
                out.append(self._close(job.job_id, JobState.DONE, reason))
        return out

    def cancel(self, job_id: str, reason: str) -> BenchmarkJob:
        return self._close(job_id, JobState.CANCELLED, reason)

    def _close(self, job_id: str, state: JobState, reason: str) -> BenchmarkJob:
        def step(j: BenchmarkJob) -> BenchmarkJob:
            return replace(j, state=state, reason=reason) if j.state == JobState.OPEN else j

        return self._store.update_benchmark_job(job_id, step)

    # ---- queries ----
    def get(self, job_id: str) -> BenchmarkJob:
        job = self._store.get_benchmark_job(job_id)
        if job is None:
            raise NotFound(f"no benchmark job {job_id[:64]!r}")
        return job

    def list_jobs(self, model: str = "", profile: str = "") -> list[BenchmarkJob]:
        return list(self._store.list_benchmark_jobs(model, profile))

    def results(self, job_id: str) -> list[BenchmarkResult]:
        return list(self._store.benchmark_results(job_id=job_id))
