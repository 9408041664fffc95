"""The meter interface and the readings it produces.

Two families: counter meters read a cumulative energy counter at the start and end
of a window (RAPL, hwmon ``energy*_input``); sampled meters read power at a steady
interval and integrate it with the trapezoid rule (INA2xx, INA3221, battery, PMIC).
Estimators compute energy from CPU time or operation counts and say so.
"""

from __future__ import annotations

import abc
import copy
import itertools
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CounterMeter", "EnergyReading", "Meter", "Probe", "SampledMeter", "WindowContext", "trapezoid"]

Kind = Literal["measured", "derived", "estimated"]


@dataclass(frozen=True, slots=True)
class Probe:
    """Whether a meter can run here, and if not, why."""

    name: str
    available: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EnergyReading:
    joules: float
    sigma_j: float
    kind: Kind
    method: str
    t0_ns: int
    t1_ns: int
    n_samples: int = 0
    flags: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return (self.t1_ns - self.t0_ns) / 1e9


@dataclass(frozen=True, slots=True)
class WindowContext:
    """What estimators need about the window (meters that measure ignore it)."""

    cpu_seconds: float = 0.0
    inferences: int = 0


class Meter(abc.ABC):
    name: str = "meter"
    kind: Kind = "measured"
    #: Sampled meters need this many samples per second from the agent's sampler.
    sample_hz: float = 0.0
    #: Shortest window that gives a useful figure with this sensor.
    min_window_s: float = 0.2

    @abc.abstractmethod
    def begin(self, t_ns: int) -> None:
        """Start a window at ``t_ns`` (the agent's monotonic clock)."""

    @abc.abstractmethod
    def end(self, t_ns: int, ctx: WindowContext) -> EnergyReading:
        """End the window started by ``begin``; the next window starts here."""

    def sample(self, t_ns: int) -> None:  # noqa: B027 - optional for counter meters
        """Take one power sample (sampled meters)."""

    def reset(self) -> None:  # noqa: B027 - meters with window state override it
        """Forget the current window."""

    def fork(self) -> Meter:
        """An independent meter over the same sensor (or model), with a window of its own: a benchmark turn
        is measured beside the telemetry window without disturbing it."""
        twin = copy.copy(self)
        twin.reset()
        return twin


def trapezoid(samples: list[tuple[int, float]]) -> float:
    """Integrate (t_ns, watts) samples; joules."""
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        total += (p0 + p1) / 2 * (t1 - t0) / 1e9
    return total


@dataclass
class _Samples:
    points: list[tuple[int, float]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


class SampledMeter(Meter):
    """Samples power (W) at ``sample_hz`` and integrates over the window."""

    sample_hz = 10.0
    #: Relative error of one reading (gain, shunt tolerance); sigma adds the quantization step.
    rel_error = 0.01
    lsb_watts = 0.0
    #: Readings above this are not plausible for the device class: flagged, not used.
    max_watts = 500.0

    def __init__(self) -> None:
        self._window = _Samples()

    def reset(self) -> None:
        self._window = _Samples()

    @abc.abstractmethod
    def read_watts(self) -> float:
        """One power reading; raises SensorError."""

    def sample(self, t_ns: int) -> None:
        from edgefleet.agent.energy.sysfs import SensorError

        try:
            watts = self.read_watts()
        except SensorError as exc:
            self._window.flags.append(f"sensor: {exc}")
            return
        if not 0 <= watts <= self.max_watts:
            self._window.flags.append(f"absurd reading {watts:.3g} W from {self.name}")
            return
        points = self._window.points
        if points and t_ns <= points[-1][0]:
            self._window.flags.append("clock went backwards between samples")
            return
        points.append((t_ns, watts))

    def begin(self, t_ns: int) -> None:
        self._window = _Samples()
        self.sample(t_ns)

    def end(self, t_ns: int, ctx: WindowContext) -> EnergyReading:
        self.sample(t_ns)
        window, self._window = self._window, _Samples()
        points = window.points
        flags = list(dict.fromkeys(window.flags))
        if len(points) < 2:
            flags.append(f"{len(points)} usable sample(s) in the window")
            t0 = points[0][0] if points else t_ns
            self._window.points.extend(points[-1:])
            return EnergyReading(0.0, 0.0, self.kind, self.name, t0, t_ns, len(points), tuple(flags))
        joules = trapezoid(points)
        seconds = (points[-1][0] - points[0][0]) / 1e9
        sigma = joules * self.rel_error + self.lsb_watts * seconds / max(1, len(points)) ** 0.5
        self._window.points.append(points[-1])  # the next window starts where this one ended
        return EnergyReading(
            joules, sigma, self.kind, self.name, points[0][0], points[-1][0], len(points), tuple(flags)
        )


class CounterMeter(Meter):
    """Reads a cumulative energy counter (µJ) at both ends; handles one wrap-around of ``max_uj``."""

    counter_step_j = 1e-6

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None

    def reset(self) -> None:
        self._start = None

    @abc.abstractmethod
    def read_uj(self) -> int: ...

    def max_uj(self) -> int:
        """The counter's range (0: unknown, a decrease is a reset)."""
        return 0

    def begin(self, t_ns: int) -> None:
        self._start = (t_ns, self.read_uj())

    def end(self, t_ns: int, ctx: WindowContext) -> EnergyReading:
        assert self._start is not None, "begin() first"
        t0, e0 = self._start
        e1 = self.read_uj()
        self._start = (t_ns, e1)
        flags: list[str] = []
        if t_ns <= t0:
            flags.append("clock went backwards")
        delta = e1 - e0
        if delta < 0:
            top = self.max_uj()
            if top > 0:
                delta = (top - e0) + e1  # wrapped once (Kepler, PowerJoular do the same)
            else:
                flags.append(f"counter went backwards ({e0} -> {e1} µJ): reset")
                delta = 0
        joules = delta * 1e-6
        seconds = max((t_ns - t0) / 1e9, 1e-9)
        if joules / seconds > 5000:
            flags.append(f"absurd power {joules / seconds:.3g} W")
        return EnergyReading(
            joules, self.counter_step_j * 2 + joules * 0.01, self.kind, self.name, t0, t_ns, 2, tuple(flags)
        )
