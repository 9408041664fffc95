"""A benchmark's arithmetic: the interleaved order, one turn's energy attributed to the candidate when the
serving variant keeps serving, and the figures over turns (mean, standard error, latency quantiles)."""

from __future__ import annotations

import math

import pytest

from edgefleet.agent.workload.benchmark.figures import (
    Latencies,
    Turn,
    TurnEnergy,
    attribute,
    energy_over_turns,
    interleave,
    latency_of,
)


def turn(**kw: object) -> Turn:
    base: dict[str, object] = {
        "inferences": 1000,
        "joules": 10.0,
        "sigma_j": 3.0,
        "seconds": 2.0,
        "cpu_seconds": 1.5,
        "serving_inferences": 0,
        "serving_busy_s": 0.0,
        "system_busy_s": None,
        "idle_watts": 2.0,
    }
    base.update(kw)
    return Turn(**base)  # type: ignore[arg-type]


def test_candidates_take_turns_round_by_round() -> None:
    assert interleave(3, 2) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert interleave(0, 5) == []
    assert interleave(2, 0) == []


def test_with_nothing_else_running_gross_is_window_energy_over_inferences() -> None:
    e = attribute(turn())
    assert e is not None
    assert e.gross_j == pytest.approx(10.0 / 1000)
    assert e.dynamic_j == pytest.approx((10.0 - 2.0 * 2.0) / 1000)
    assert e.sigma_j == pytest.approx(3.0 / 1000)


def test_the_estimator_charges_idle_power_only_for_the_time_not_spent_serving() -> None:
    # the estimator's reading: idle 2 W x 2 s + the benchmark's own 1.5 CPU s x 4 W
    e = attribute(turn(joules=2.0 * 2.0 + 1.5 * 4.0, serving_inferences=300, serving_busy_s=0.5))
    assert e is not None
    assert e.dynamic_j == pytest.approx(1.5 * 4.0 / 1000)  # only its own CPU time
    assert e.gross_j == pytest.approx((1.5 * 4.0 + 2.0 * 1.5) / 1000)


def test_a_sensor_reading_is_shared_by_cpu_time() -> None:
    # the device read 10 J; the system was busy 3 CPU s, the benchmark's thread 1.5 of them
    e = attribute(turn(system_busy_s=3.0, serving_busy_s=0.5, serving_inferences=100))
    assert e is not None
    assert e.dynamic_j == pytest.approx((10.0 - 4.0) * 0.5 / 1000)
    assert e.gross_j == pytest.approx(((10.0 - 4.0) * 0.5 + 2.0 * 1.5) / 1000)
    alone = attribute(turn(system_busy_s=1.2))  # less system time than its own (counter granularity)
    assert alone is not None
    assert alone.dynamic_j == pytest.approx(6.0 / 1000)


def test_no_baseline_no_dynamic_and_bad_turns_give_no_energy() -> None:
    e = attribute(turn(idle_watts=None, serving_busy_s=0.5))
    assert e == TurnEnergy(10.0 * 1.5 / 2.0 / 1000, None, 3.0 / 1000)
    below = attribute(turn(joules=3.0))  # under the idle baseline: it drifted
    assert below is not None
    assert below.dynamic_j is None
    assert attribute(turn(flags=("clock went backwards",))) is None
    assert attribute(turn(inferences=0)) is None
    assert attribute(turn(joules=math.nan)) is None


def test_figures_over_turns_are_the_mean_with_its_standard_error() -> None:
    turns = [TurnEnergy(1.0, 0.5, 0.1), TurnEnergy(2.0, 1.5, 0.1), TurnEnergy(3.0, 2.5, 0.1)]
    e = energy_over_turns(turns, kind="estimated", method="estimate:cpu-time")
    assert e is not None
    assert (e.gross_j, e.dynamic_j) == (2.0, 1.5)
    assert e.sigma_j == pytest.approx(1.0 / math.sqrt(3))  # sample sd 1.0 over sqrt(3)
    assert (e.kind, e.method) == ("estimated", "estimate:cpu-time")
    one = energy_over_turns(turns[:1], kind="measured", method="rapl:package-0")
    assert one is not None
    assert one.sigma_j == 0.1
    mixed = energy_over_turns([*turns, TurnEnergy(2.0, None, 0.1)], kind="measured", method="m")
    assert mixed is not None
    assert mixed.dynamic_j is None
    assert energy_over_turns([], kind="measured", method="m") is None


def test_latency_quantiles_over_all_inferences() -> None:
    lat = latency_of([i / 1000 for i in range(1, 101)])
    assert lat is not None
    assert lat.p50_s == pytest.approx(0.0505)
    assert lat.p95_s == pytest.approx(0.09505)
    assert lat.mean_s == pytest.approx(0.0505)
    assert latency_of([]) is None


def test_latencies_are_kept_whole_up_to_a_bound_then_sampled_uniformly() -> None:
    few = Latencies(keep=10)
    few.extend([0.5, 0.25])
    assert (few.seen, list(few.values)) == (2, [0.5, 0.25])
    many = Latencies(keep=5_000)
    many.extend(i / 100_000 for i in range(100_000))  # uniform on [0, 1)
    assert (many.seen, len(many.values)) == (100_000, 5_000)
    lat = latency_of(many.values)
    assert lat is not None
    assert lat.p50_s == pytest.approx(0.5, abs=0.03)
    assert lat.p95_s == pytest.approx(0.95, abs=0.02)
