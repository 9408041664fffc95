"""Benchmark jobs (whole records, read-modify-write in one transaction) and their results (upserted by
(job, device, variant): a device that reports again replaces its earlier figures)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from edgefleet.core.errors import NotFound
from edgefleet.orchestrator.benchmark.model import BenchmarkJob, BenchmarkResult
from edgefleet.orchestrator.store.engine import Database
from edgefleet.orchestrator.store.tables import BENCHMARK_JOBS, BENCHMARK_RESULTS

__all__ = ["get_job", "list_jobs", "put_job", "put_results", "results", "update_job"]


def _job_values(job: BenchmarkJob) -> dict[str, object]:
    return {
        "job_id": job.job_id,
        "model": job.model,
        "profile": job.profile,
        "state": str(job.state),
        "created": job.created,
        "record_json": job.to_json(),
    }


def put_job(db: Database, job: BenchmarkJob) -> None:
    with db.write() as conn:
        conn.execute(sa.delete(BENCHMARK_JOBS).where(BENCHMARK_JOBS.c.job_id == job.job_id))
        conn.execute(sa.insert(BENCHMARK_JOBS).values(_job_values(job)))


def get_job(db: Database, job_id: str) -> BenchmarkJob | None:
    with db.read() as conn:
        row = conn.execute(
            sa.select(BENCHMARK_JOBS.c.record_json).where(BENCHMARK_JOBS.c.job_id == job_id)
        ).first()
    return BenchmarkJob.from_json(row.record_json) if row is not None else None


def update_job(db: Database, job_id: str, fn: Callable[[BenchmarkJob], BenchmarkJob]) -> BenchmarkJob:
    t = BENCHMARK_JOBS
    with db.write() as conn:
        query = sa.select(t.c.record_json).where(t.c.job_id == job_id)
        if db.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no benchmark job {job_id[:64]!r}")
        job = fn(BenchmarkJob.from_json(row.record_json))
        values = _job_values(job)
        values.pop("job_id")
        conn.execute(sa.update(t).where(t.c.job_id == job_id).values(values))
    return job


def list_jobs(
    db: Database, model: str = "", profile: str = "", states: Sequence[str] = ()
) -> list[BenchmarkJob]:
    t = BENCHMARK_JOBS
    query = sa.select(t.c.record_json).order_by(t.c.created, t.c.job_id)
    if model:
        query = query.where(t.c.model == model)
    if profile:
        query = query.where(t.c.profile == profile)
    if states:
        query = query.where(t.c.state.in_(list(states)))
    with db.read() as conn:
        return [BenchmarkJob.from_json(r.record_json) for r in conn.execute(query)]


def put_results(db: Database, items: Sequence[BenchmarkResult]) -> None:
    t = BENCHMARK_RESULTS
    with db.write() as conn:
        for r in items:
            key = (t.c.job_id == r.job_id) & (t.c.device_id == r.device_id) & (t.c.variant_id == r.variant_id)
            conn.execute(sa.delete(t).where(key))
            conn.execute(
                sa.insert(t).values(
                    job_id=r.job_id,
                    device_id=r.device_id,
                    variant_id=r.variant_id,
                    model=r.model,
                    profile=r.profile,
                    reported=r.reported,
                    record_json=r.to_json(),
                )
            )


def results(db: Database, *, job_id: str = "", model: str = "", profile: str = "") -> list[BenchmarkResult]:
    t = BENCHMARK_RESULTS
    query = sa.select(t.c.record_json).order_by(t.c.reported, t.c.job_id, t.c.device_id, t.c.variant_id)
    for column, value in (("job_id", job_id), ("model", model), ("profile", profile)):
        if value:
            query = query.where(t.c[column] == value)
    with db.read() as conn:
        return [BenchmarkResult.from_json(r.record_json) for r in conn.execute(query)]
