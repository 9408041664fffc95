"""Host figures for a variant, through the same runtime wrapper the agent uses."""

from __future__ import annotations

from edgefleet.agent.runtime import load_model
from edgefleet.agent.runtime.measure import measure_accuracy, measure_latency
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.evalset import EvalSet, check_classifier
from edgefleet.orchestrator.variants.card import HostFigures

__all__ = ["check_eval_matches", "evaluate", "input_sample_shape"]


def check_eval_matches(data: bytes, evalset: EvalSet, *, source: str) -> None:
    """The evaluation set's samples must fit the model's input, and the model must be a classifier of the
    set's classes (one score per class); the error names both."""
    model = load_model(data, source=source)
    if evalset.sample_shape != model.input.sample_shape:
        raise InvalidArgument(
            f"{evalset.source}: samples have shape {list(evalset.sample_shape)} but the model "
            f"{source} takes {list(model.input.sample_shape)} (input '{model.input.name}')"
        )
    check_classifier(model.output.sample_shape, evalset, model=source)


def input_sample_shape(data: bytes, *, source: str) -> tuple[int, ...]:
    """The shape of one sample the model takes (the batch dimension dropped)."""
    return load_model(data, source=source).input.sample_shape


def evaluate(
    data: bytes, evalset: EvalSet | None, *, threads: int = 1, latency_runs: int = 200, source: str = ""
) -> HostFigures:
    model = load_model(data, threads=threads, source=source)
    accuracy = None
    samples = 0
    if evalset is not None:
        acc = measure_accuracy(model, evalset.x, evalset.y)
        accuracy, samples = acc.value, acc.total
        sample = evalset.x[0]
    else:
        import numpy as np

        sample = np.zeros(model.input.sample_shape, dtype=model.input.dtype)
    latency = measure_latency(model, sample, runs=latency_runs, threads=threads)
    return HostFigures(
        accuracy=accuracy,
        samples=samples,
        latency_p50_s=latency.p50,
        latency_p95_s=latency.p95,
        threads=threads,
        runtime=str(model.runtime),
    )
