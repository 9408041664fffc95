"""The serving rate a benchmark job paces its candidates at: the device's rate lately, not only since the
job began (measured from the job's start, its first turn read "nothing serves" while serving had not caught
up in its first second, and ran back to back: 78,397 inferences in a turn at a serving rate of 19/s)."""

from __future__ import annotations

import pytest

from edgefleet.agent.workload.benchmark.runner import ServingPace
from edgefleet.agent.workload.engine import Engine
from edgefleet.agent.workload.stats import InferenceStats


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _serve(stats: InferenceStats, clock: Clock, *, per_second: float, seconds: float, chunk: int = 4) -> None:
    """Replay-like: ``chunk`` inferences at a time, at ``per_second`` on average."""
    for _ in range(int(seconds * per_second / chunk)):
        clock.now += chunk / per_second
        stats.record_many([1e-5] * chunk, 1e-4, chunk)


def test_a_job_starting_on_a_serving_device_paces_its_first_turn_at_the_serving_rate() -> None:
    clock = Clock()
    engine = Engine()
    try:
        engine.stats = InferenceStats(clock=clock)
        _serve(engine.stats, clock, per_second=40, seconds=15)
        rate = ServingPace(engine)  # the job begins now
        assert rate.per_second() == pytest.approx(40, rel=0.05)
    finally:
        engine.close()


@pytest.mark.parametrize("served_for", [1.0, 3.0, 30.0, 300.0])
def test_a_steady_rate_reads_as_itself_from_the_first_second(served_for: float) -> None:
    clock = Clock()
    stats = InferenceStats(clock=clock)
    _serve(stats, clock, per_second=40, seconds=served_for)
    assert stats.serving_rate() == pytest.approx(40, rel=0.15)


def test_it_follows_a_change_and_an_idle_device_reads_nothing() -> None:
    clock = Clock()
    stats = InferenceStats(clock=clock)
    assert stats.serving_rate() == 0.0
    _serve(stats, clock, per_second=100, seconds=60)
    _serve(stats, clock, per_second=10, seconds=60, chunk=1)
    assert stats.serving_rate() == pytest.approx(10, rel=0.1)
    clock.now += 120  # two minutes of nothing
    assert stats.serving_rate() < 0.1
    engine = Engine()
    try:
        engine.stats = stats
        assert ServingPace(engine).per_second() == 0.0  # under MIN_PACE: back to back
    finally:
        engine.close()
