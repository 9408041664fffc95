"""Benchmark jobs as their devices get them on the stream (built on a worker thread: bundles, store)."""

from __future__ import annotations

from edgefleet.orchestrator.benchmark.model import BenchmarkJob, JobState
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.wire.benchmarks import job_to_pb
from edgefleet.v1 import control_pb2

__all__ = ["JobMessages"]


class JobMessages:
    """Every method does store and disk I/O: call them on a worker thread."""

    def __init__(
        self,
        *,
        benchmarks: BenchmarkService,
        bundles: BundleService,
        variants: VariantService,
        plans: PlanService,
    ) -> None:
        self._benchmarks = benchmarks
        self._bundles = bundles
        self._variants = variants
        self._plans = plans

    def message(self, job: BenchmarkJob) -> control_pb2.OrchestratorMessage:
        """A benchmark job as its devices get it (an empty candidate list when it is no longer open)."""
        candidates = []
        if job.state == JobState.OPEN:
            for variant_id in job.candidates:
                bundle = self._bundles.ensure(variant_id)
                candidates.append((self._variants.get(variant_id), bundle))
        runtime = self._plans.get_profile(job.profile).runtime
        return control_pb2.OrchestratorMessage(benchmark_job=job_to_pb(job, candidates, runtime))

    def by_id(self, job_id: str) -> control_pb2.OrchestratorMessage:
        """The job's message now (NotFound without the job)."""
        return self.message(self._benchmarks.get(job_id))

    def open_for(self, device_id: str) -> list[control_pb2.OrchestratorMessage]:
        """The messages of the jobs the device should be running now."""
        return [self.message(job) for job in self._benchmarks.open_jobs_for(device_id)]
