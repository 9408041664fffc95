"""Measurement windows: energy per inference (gross and dynamic), latency quantiles, accuracy, load.

A benchmark job's inferences are never counted in a window (they are another variant's), and the CPU-time
estimator charges a window only the serving CPU time. A sensor reads the whole device, though: a window in
which benchmark inferences ran is flagged (its device-level energy includes them) and never used, nor
taken for an idle window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psutil

from edgefleet.agent.energy.estimators import CpuTimeEstimator
from edgefleet.agent.energy.meters import Meter, WindowContext
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.coverage import NO_COVERAGE, Coverage
from edgefleet.agent.workload.stats import WindowStats

__all__ = ["Window", "WindowBuilder"]


@dataclass(frozen=True, slots=True)
class Window:
    variant: VariantInfo | None
    start: float
    end: float
    inferences: int
    latency_p50_s: float
    latency_p95_s: float
    latency_p99_s: float
    latency_mean_s: float
    #: Window energy / inferences (MLPerf style); None with no inference.
    gross_j: float | None
    #: Idle baseline subtracted; None until a baseline exists.
    dynamic_j: float | None
    sigma_j: float
    energy_kind: str
    energy_method: str
    labelled: int
    correct: int
    cpu_percent: float
    rss_bytes: int
    temperature_c: float | None
    flags: tuple[str, ...]
    #: Energy of the whole window (J), and how it was obtained (for the agent's energy counter).
    window_joules: float = 0.0
    #: Distinct bundled samples of ``variant`` scored and right in the window.
    coverage: Coverage = NO_COVERAGE
    feedback_labelled: int = 0
    feedback_correct: int = 0
    #: Seconds the meter covered, and the idle power subtracted for ``dynamic_j`` (0: none subtracted).
    measured_seconds: float = 0.0
    idle_watts: float = 0.0


def _temperature() -> float | None:
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        for entries in reader().values():
            for entry in entries:
                if entry.current and 0 < entry.current < 150:
                    return float(entry.current)
    except OSError:
        return None
    return None


class WindowBuilder:
    """Turns a meter reading and the engine's window counters into a ``Window``. ``begin`` starts the
    first window (it reads the meter: call it where sensor reads run, like ``close``)."""

    def __init__(
        self,
        meter: Meter,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.meter = meter
        self._clock_ns = clock_ns
        self._wall = wall
        self._process = psutil.Process()
        #: Idle power (W): the estimator's profile figure, or learnt from windows with no inference.
        self.idle_watts: float | None = meter.idle_watts if isinstance(meter, CpuTimeEstimator) else None
        self._start_wall = wall()

    def begin(self) -> None:
        self._process.cpu_percent()
        self._start_wall = self._wall()
        self.meter.begin(self._clock_ns())

    def close(self, stats: WindowStats, variant: VariantInfo | None) -> Window:
        reading = self.meter.end(
            self._clock_ns(), WindowContext(cpu_seconds=stats.cpu_seconds, inferences=stats.inferences)
        )
        start, end = self._start_wall, self._wall()
        self._start_wall = end
        flags = list(reading.flags)
        if end < start:
            flags.append("wall clock went backwards")
        n = stats.inferences
        seconds = reading.seconds
        if not math.isfinite(reading.joules) or reading.joules < 0:
            flags.append(f"invalid window energy {reading.joules!r} J")
        if stats.benchmark_inferences and self.meter.kind != "estimated":
            flags.append(
                f"{stats.benchmark_inferences} benchmark inferences ran in the window: the device-level "
                "reading includes them"
            )
        gross = dynamic = None
        idle_subtracted = 0.0
        if n > 0 and not flags:
            gross = reading.joules / n
            if self.idle_watts is not None:
                dyn = (reading.joules - self.idle_watts * seconds) / n
                if dyn >= 0:
                    dynamic, idle_subtracted = dyn, self.idle_watts
                else:
                    flags.append("energy below the idle baseline: baseline drifted, dynamic figure omitted")
        elif n == 0 and not flags and seconds > 0 and not isinstance(self.meter, CpuTimeEstimator):
            idle = reading.joules / seconds
            self.idle_watts = idle if self.idle_watts is None else 0.7 * self.idle_watts + 0.3 * idle
        coverage = stats.coverage
        if variant is None or coverage.variant_id != variant.variant_id:
            coverage = NO_COVERAGE  # bits index one bundle: the one that serves now
        lat = np.asarray(stats.latencies, dtype=np.float64)
        p50, p95, p99 = (float(v) for v in np.percentile(lat, [50, 95, 99])) if lat.size else (0.0, 0.0, 0.0)
        return Window(
            variant=variant,
            start=start,
            end=end,
            inferences=n,
            latency_p50_s=p50,
            latency_p95_s=p95,
            latency_p99_s=p99,
            latency_mean_s=float(lat.mean()) if lat.size else 0.0,
            gross_j=gross,
            dynamic_j=dynamic,
            sigma_j=reading.sigma_j / n if n else 0.0,
            energy_kind=reading.kind,
            energy_method=reading.method,
            labelled=stats.labelled,
            correct=stats.correct,
            cpu_percent=self._process.cpu_percent(),
            rss_bytes=self._process.memory_info().rss,
            temperature_c=_temperature(),
            flags=tuple(dict.fromkeys(flags)),
            window_joules=reading.joules if not flags else 0.0,
            coverage=coverage,
            feedback_labelled=stats.feedback_labelled,
            feedback_correct=stats.feedback_correct,
            measured_seconds=max(0.0, seconds),
            idle_watts=idle_subtracted,
        )
