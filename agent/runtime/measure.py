"""Accuracy and latency of a loaded model, the same way on the host and on devices."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgefleet.agent.runtime.model import Model
from edgefleet.core.errors import InvalidArgument

__all__ = ["Accuracy", "LatencyStats", "measure_accuracy", "measure_latency"]


@dataclass(frozen=True, slots=True)
class Accuracy:
    correct: int
    total: int

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else float("nan")


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Seconds per single-sample inference."""

    p50: float
    p95: float
    p99: float
    mean: float
    runs: int
    threads: int

    @classmethod
    def from_samples(cls, seconds: npt.ArrayLike, threads: int) -> LatencyStats:
        arr = np.asarray(seconds, dtype=np.float64)
        if arr.size == 0:
            raise InvalidArgument("no latency samples")
        p50, p95, p99 = np.percentile(arr, [50, 95, 99])
        return cls(float(p50), float(p95), float(p99), float(arr.mean()), int(arr.size), threads)


def measure_accuracy(model: Model, x: npt.ArrayLike, y: npt.ArrayLike) -> Accuracy:
    labels = np.asarray(y).reshape(-1)
    predicted = model.classify(x)
    if len(predicted) != len(labels):
        raise InvalidArgument(f"{len(predicted)} samples but {len(labels)} labels")
    return Accuracy(int((predicted == labels).sum()), len(labels))


def measure_latency(
    model: Model,
    sample: npt.ArrayLike,
    *,
    runs: int = 200,
    warmup: int = 20,
    threads: int = 1,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> LatencyStats:
    """Time ``runs`` single-batch invokes of one sample after ``warmup`` untimed ones."""
    arr = np.asarray(sample)
    if arr.shape == model.input.sample_shape:
        arr = arr[None]
    model.input.check_batch(arr)
    native = model.input.to_native(arr[: max(1, model.input.shape[0])])
    for _ in range(warmup):
        model.invoke_raw(native)
    times = np.empty(runs, dtype=np.float64)
    for i in range(runs):
        t0 = clock()
        model.invoke_raw(native)
        times[i] = (clock() - t0) / 1e9
    return LatencyStats.from_samples(times, threads)
