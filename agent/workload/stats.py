"""What the serving variant did: counters since start and the current telemetry window's share of them.

The inference thread writes under the lock; the telemetry window takes its share with ``take_window``, a
benchmark turn reads ``totals`` at both ends to see what serving ran meanwhile. Benchmark inferences are
never counted here (they are another variant's); ``benchmark_inferences`` only says how many ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy.typing as npt

from edgefleet.agent.workload.coverage import NO_COVERAGE, Coverage, SampleCoverage
from edgefleet.agent.workload.rate import ServingRateMeter

__all__ = ["InferenceStats", "ServingTotals", "WindowStats"]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What happened since the previous window."""

    inferences: int
    errors: int
    #: Labelled inferences (replay, canary, feedback): a throughput count, repeats included.
    labelled: int
    correct: int
    cpu_seconds: float
    latencies: tuple[float, ...]
    #: Distinct bundled samples scored and right (what accuracy is judged on).
    coverage: Coverage = NO_COVERAGE
    #: Late labels from applications (Inference.Feedback): each a new, distinct sample.
    feedback_labelled: int = 0
    feedback_correct: int = 0
    #: Benchmark inferences that ran on the inference thread meanwhile (not in ``inferences``).
    benchmark_inferences: int = 0


@dataclass(frozen=True, slots=True)
class ServingTotals:
    """Cumulative serving figures (a benchmark turn takes the difference of two)."""

    inferences: int
    cpu_seconds: float
    #: Wall time spent inside serving inferences.
    busy_seconds: float


@dataclass
class InferenceStats:
    """Counters since start plus the current window; the inference thread writes under the lock."""

    inferences: int = 0
    errors: int = 0
    labelled: int = 0
    correct: int = 0
    cpu_seconds: float = 0.0
    busy_seconds: float = 0.0
    feedback_labelled: int = 0
    feedback_correct: int = 0
    benchmark_inferences: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Told about every recorded latency (metrics); called in the inference thread.
    on_latencies: Callable[[Sequence[float]], None] | None = None
    _window: list[float] = field(default_factory=list)
    _coverage: SampleCoverage = field(default_factory=SampleCoverage)
    _marks: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0)
    _cpu_mark: float = 0.0
    #: The serving rate lately (what a benchmark job paces its candidates at); ``clock`` its time.
    clock: Callable[[], float] = time.monotonic
    _rate: ServingRateMeter = field(default_factory=ServingRateMeter)

    def record(self, n: int, latency_s: float, cpu_s: float = 0.0) -> None:
        with self.lock:
            self.inferences += n
            self._rate.add(n, self.clock())
            self.cpu_seconds += cpu_s
            self.busy_seconds += latency_s
            if len(self._window) < 1_000_000:
                self._window.append(latency_s)
        if self.on_latencies is not None:
            self.on_latencies((latency_s,))

    def record_many(
        self,
        latencies: list[float],
        cpu_s: float,
        correct: int,
        *,
        samples: tuple[str, int, npt.ArrayLike, npt.ArrayLike] | None = None,
    ) -> None:
        """A replay or canary chunk: one lock acquisition for the whole chunk. ``samples``: (variant id,
        bundle size, sample indices, right or not) for the distinct-sample coverage."""
        with self.lock:
            n = len(latencies)
            self.inferences += n
            self._rate.add(n, self.clock())
            self.cpu_seconds += cpu_s
            self.busy_seconds += sum(latencies)
            self.labelled += n
            self.correct += correct
            if samples is not None:
                self._coverage.mark(*samples)
            if len(self._window) < 1_000_000:
                self._window.extend(latencies)
        if self.on_latencies is not None:
            self.on_latencies(latencies)

    def record_benchmark(self, n: int) -> None:
        with self.lock:
            self.benchmark_inferences += n

    def serving_rate(self) -> float:
        """Serving inferences per second lately (exponentially weighted over ``RATE_TAU_S``)."""
        with self.lock:
            return self._rate.per_second(self.clock())

    def totals(self) -> ServingTotals:
        with self.lock:
            return ServingTotals(self.inferences, self.cpu_seconds, self.busy_seconds)

    def take_window(self) -> WindowStats:
        with self.lock:
            counts = (
                self.inferences,
                self.errors,
                self.labelled,
                self.correct,
                self.feedback_labelled,
                self.feedback_correct,
                self.benchmark_inferences,
            )
            n, e, lab, c, fl, fc, bench = (now - then for now, then in zip(counts, self._marks, strict=True))
            out = WindowStats(
                n,
                e,
                lab,
                c,
                self.cpu_seconds - self._cpu_mark,
                tuple(self._window),
                self._coverage.take(),
                fl,
                fc,
                bench,
            )
            self._marks, self._cpu_mark = counts, self.cpu_seconds
            self._window = []
        return out

    def record_error(self) -> None:
        with self.lock:
            self.errors += 1

    def record_labels(self, correct: int, labelled: int) -> None:
        """Feedback: counted with the labelled inferences and on its own (distinct new samples)."""
        with self.lock:
            self.correct += correct
            self.labelled += labelled
            self.feedback_correct += correct
            self.feedback_labelled += labelled
