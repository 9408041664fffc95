"""Estimators, for devices with no sensor. Their readings say ``estimated`` and how."""

from __future__ import annotations

from collections.abc import Callable

from edgefleet.agent.energy.meters import EnergyReading, Meter, WindowContext

__all__ = ["CpuTimeEstimator", "OpsEstimator"]


class CpuTimeEstimator(Meter):
    """Idle power x wall time + CPU time of the inference work x one core's share of (active - idle).

    Profile figures come from the orchestrator (the profile's idle and active watts, cores).
    Utilization models are good to about +-30 % (reference: energy-measurement.md, section 4).
    """

    kind = "estimated"
    name = "estimate:cpu-time"

    def __init__(self, *, idle_watts: float, active_watts: float, cores: int) -> None:
        self.idle_watts, self.active_watts, self.cores = idle_watts, active_watts, max(1, cores)
        self._t0 = 0

    @property
    def core_watts(self) -> float:
        return max(0.0, self.active_watts - self.idle_watts) / self.cores

    def begin(self, t_ns: int) -> None:
        self._t0 = t_ns

    def end(self, t_ns: int, ctx: WindowContext) -> EnergyReading:
        t0, self._t0 = self._t0, t_ns
        flags = ("clock went backwards",) if t_ns <= t0 else ()
        seconds = max(0.0, (t_ns - t0) / 1e9)
        joules = self.idle_watts * seconds + ctx.cpu_seconds * self.core_watts
        return EnergyReading(joules, joules * 0.3, "estimated", self.name, t0, t_ns, 0, flags)


class OpsEstimator(Meter):
    """Inferences x the variant's operation-count energy (from its bundle): a lower bound, labelled so."""

    kind = "estimated"
    name = "estimate:ops"

    def __init__(self, per_inference: Callable[[], float]) -> None:
        self._per_inference = per_inference
        self._t0 = 0

    def begin(self, t_ns: int) -> None:
        self._t0 = t_ns

    def end(self, t_ns: int, ctx: WindowContext) -> EnergyReading:
        t0, self._t0 = self._t0, t_ns
        joules = ctx.inferences * self._per_inference()
        flags = ("clock went backwards",) if t_ns <= t0 else ()
        return EnergyReading(joules, joules, "estimated", self.name, t0, t_ns, 0, flags)
