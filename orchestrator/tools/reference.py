"""The main job, as far as it goes so far: real inference of every reference model."""

from __future__ import annotations

from dataclasses import dataclass

from edgefleet.agent.runtime import RuntimeName, load_model
from edgefleet.agent.runtime.measure import measure_accuracy, measure_latency
from edgefleet.core.evalset import load_eval_set
from edgefleet.orchestrator.reference import reference_family

__all__ = ["ReferenceRun", "run_reference_models"]


@dataclass(frozen=True, slots=True)
class ReferenceRun:
    model: str
    runtime: str
    accuracy: float
    recorded_accuracy: float
    samples: int
    latency_p50_s: float
    latency_p95_s: float
    threads: int


def run_reference_models(
    runtimes: tuple[RuntimeName, ...] = ("litert", "tflite-micro"), *, threads: int = 1, runs: int = 200
) -> list[ReferenceRun]:
    family = reference_family()
    evalset = load_eval_set(family.eval_path)
    results = []
    for ref in family.models:
        for kind in runtimes:
            model = load_model(ref.path, runtime=kind, threads=threads)
            acc = measure_accuracy(model, evalset.x, evalset.y)
            lat = measure_latency(model, evalset.x[0], runs=runs, threads=threads)
            results.append(
                ReferenceRun(
                    model=ref.name,
                    runtime=str(model.runtime),
                    accuracy=acc.value,
                    recorded_accuracy=ref.recorded_accuracy,
                    samples=acc.total,
                    latency_p50_s=lat.p50,
                    latency_p95_s=lat.p95,
                    threads=threads,
                )
            )
    return results
