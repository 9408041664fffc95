"""A benchmark's arithmetic (pure): the interleaved order of turns, one turn's energy attributed to the
candidate, and a candidate's figures over its turns.

Attribution, one rule for every meter. A turn of ``T`` seconds reads ``E`` joules and runs ``n`` of the
candidate's inferences; the serving variant keeps serving meanwhile (its inferences took ``T_s`` seconds
of the inference thread). With the idle power ``P_idle``:

- the device's dynamic energy in the turn, ``E - P_idle * T``, goes to the candidate in proportion to its
  share of the busy CPU time: with the CPU-time estimator the reading already holds only the benchmark's own
  CPU time (share 1); a sensor reads the whole device, so the share is the benchmark thread's CPU time over
  the whole system's busy CPU time in the turn (``attribution=cpu-share``, reference/energy-measurement.md
  section 6): the serving variant's inferences and other processes keep theirs;
- the idle power is charged for the time the thread was not serving, ``P_idle * (T - T_s)``;
- dynamic per inference = the candidate's dynamic energy / n; gross = (that + its idle part) / n. With no
  serving traffic these are exactly window energy / n and (E - P_idle * T) / n.

A sensor with no idle baseline yet gets no dynamic figure, and its gross is the time share
``E * (T - T_s) / T / n``. A turn whose reading is flagged (sensor garbage, clock) gives no energy figure.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgefleet.agent.workload.benchmark.model import EnergyResult, LatencyResult

__all__ = ["Latencies", "Turn", "TurnEnergy", "attribute", "energy_over_turns", "interleave", "latency_of"]


def interleave(candidates: int, rounds: int) -> list[tuple[int, int]]:
    """(round, candidate) in measuring order: A, B, C, A, B, C, ... so that drift and heat reach all alike."""
    return [(r, c) for r in range(rounds) for c in range(candidates)]


@dataclass(frozen=True, slots=True)
class Turn:
    """What one turn measured."""

    inferences: int
    joules: float
    sigma_j: float
    seconds: float
    #: CPU time of the benchmark's inferences (the inference thread).
    cpu_seconds: float
    #: The serving variant's inferences in the turn, and the wall time they took.
    serving_inferences: int
    serving_busy_s: float
    #: Busy CPU time of the whole system in the turn; None when the meter is an estimator (the reading
    #: then holds only the benchmark's own CPU time).
    system_busy_s: float | None
    #: Idle power to subtract (None: no baseline).
    idle_watts: float | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnEnergy:
    gross_j: float
    dynamic_j: float | None
    sigma_j: float


def attribute(turn: Turn) -> TurnEnergy | None:
    """The candidate's energy per inference in one turn (None: the turn gives no energy figure)."""
    n, seconds = turn.inferences, turn.seconds
    if n <= 0 or seconds <= 0 or turn.flags or not math.isfinite(turn.joules) or turn.joules < 0:
        return None
    not_serving = max(0.0, seconds - turn.serving_busy_s)
    sigma = turn.sigma_j / n
    if turn.idle_watts is None:
        return TurnEnergy(turn.joules * not_serving / seconds / n, None, sigma)
    share = 1.0
    if turn.system_busy_s is not None:
        share = min(1.0, turn.cpu_seconds / max(turn.cpu_seconds, turn.system_busy_s, 1e-12))
    dynamic_total = turn.joules - turn.idle_watts * seconds
    if dynamic_total < 0:  # the baseline drifted above this turn's reading: no dynamic figure
        return TurnEnergy(turn.joules * not_serving / seconds / n, None, sigma)
    dynamic = dynamic_total * share
    return TurnEnergy((dynamic + turn.idle_watts * not_serving) / n, dynamic / n, sigma)


def _mean_and_error(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return float(arr.mean()), 0.0
    return float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size))


def energy_over_turns(turns: Sequence[TurnEnergy], *, kind: str, method: str) -> EnergyResult | None:
    """Mean over turns; sigma = the standard error over turns (one turn: that turn's meter sigma). Dynamic
    only when every turn has it (a mean over fewer turns would not be the same figure)."""
    if not turns:
        return None
    gross, error = _mean_and_error([t.gross_j for t in turns])
    if len(turns) < 2:
        error = turns[0].sigma_j
    dynamics = [t.dynamic_j for t in turns if t.dynamic_j is not None]
    if len(dynamics) != len(turns):
        return EnergyResult(gross, None, error, kind, method)
    dynamic, dynamic_error = _mean_and_error(dynamics)
    if len(turns) < 2:
        dynamic_error = turns[0].sigma_j
    return EnergyResult(gross, dynamic, error, kind, method, dynamic_error)


def latency_of(latencies: Sequence[float] | array[float]) -> LatencyResult | None:
    if not len(latencies):
        return None
    arr = np.asarray(latencies, dtype=np.float64)
    p50, p95, p99 = (float(v) for v in np.percentile(arr, [50, 95, 99]))
    return LatencyResult(p50, p95, p99, float(arr.mean()))


@dataclass
class Latencies:
    """A candidate's latencies: every one up to ``keep``, then a uniform sample of ``keep`` of them (reservoir
    sampling, seeded: the same run keeps the same ones), so a fast model's millions of inferences cost a
    bounded 8 bytes x ``keep``; quantiles of 50,000 uniform draws are within a fraction of a percent."""

    keep: int = 50_000
    seen: int = 0
    values: array[float] = field(default_factory=lambda: array("d"))
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def extend(self, latencies: Iterable[float]) -> None:
        for value in latencies:
            self.seen += 1
            if len(self.values) < self.keep:
                self.values.append(value)
            elif (j := self._rng.randrange(self.seen)) < self.keep:
                self.values[j] = value
