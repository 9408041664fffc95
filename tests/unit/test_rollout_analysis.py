"""Pinned defaults and boundary cases of the per-window analysis."""

from __future__ import annotations

import math

import pytest

from edgefleet.orchestrator.rollout.analysis import (
    AnalysisDefaults,
    accuracy_verdict,
    combine,
    log_bound_verdict,
    n_min,
    t_quantile,
    wilson,
)


def test_defaults_are_pinned() -> None:
    assert AnalysisDefaults() == AnalysisDefaults(
        z=1.645,
        z_critical=3.09,
        accuracy_delta=0.05,
        k_windows=5,
        min_inferences=50,
        critical_factor=2.0,
        fail_streak=3,
        pass_streak=4,
        saving_windows=200,
    )
    assert n_min(0.90) == 98  # the reference's worked example: A = 0.90, delta = 0.05, z = 1.645
    assert n_min(0.93) == 71
    assert t_quantile(4) == 2.132
    assert t_quantile(4, 0.999) == 7.173


def test_wilson_matches_the_formula() -> None:
    low, up = wilson(90, 100, 1.645)
    assert (round(low, 4), round(up, 4)) == (0.8396, 0.9393)
    assert wilson(0, 0, 1.645) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("c", "n", "status", "rule"),
    [
        (69, 70, "NODATA", "accuracy.below_n_min"),  # n = n_min - 1 (A = 0.93)
        (176, 200, "FAIL", "accuracy.wilson_ucb_below_floor"),
        (199, 200, "PASS", "accuracy.wilson_lcb_at_or_above_floor"),
        (186, 200, "INCONCLUSIVE", "accuracy.wilson_interval_spans_floor"),  # p-hat exactly at the floor
        (0, 0, "NODATA", "accuracy.below_n_min"),
        (300, 200, "NODATA", "accuracy.below_n_min"),  # more correct than labelled: not data
    ],
)
def test_accuracy_boundaries(c: int, n: int, status: str, rule: str) -> None:
    v = accuracy_verdict(c, n, 0.93)
    assert (v.status, v.rule) == (status, rule)


def test_accuracy_exactly_at_the_floor_with_a_huge_sample_passes_only_when_the_bound_clears() -> None:
    # p-hat = floor: the lower bound is below the floor for any n, so never PASS, never FAIL
    assert accuracy_verdict(930_000, 1_000_000, 0.93).status == "INCONCLUSIVE"


def test_critical_accuracy_breach() -> None:
    v = accuracy_verdict(120, 200, 0.93)
    assert v.status == "FAIL"
    assert v.critical


@pytest.mark.parametrize(
    ("values", "budget", "status", "rule"),
    [
        ([1.0] * 4, 2.0, "NODATA", "energy.fewer_than_k_windows"),
        ([1.2, 1.25, 1.15, 1.22, 1.18], 1.0, "FAIL", "energy.t_lcb_above_budget"),
        ([0.7, 0.75, 0.72, 0.74, 0.71], 1.0, "PASS", "energy.t_ucb_within_budget"),
        ([0.9, 1.1, 0.95, 1.05, 1.0], 1.0, "INCONCLUSIVE", "energy.t_interval_spans_budget"),
        (
            [1.0, 1.0, 1.0, 1.0, 1.0],
            1.0,
            "PASS",
            "energy.t_ucb_within_budget",
        ),  # exactly at the budget, no spread
        ([math.nan, 1.2, 1.2, 1.2, 1.2], 1.0, "NODATA", "energy.fewer_than_k_windows"),  # NaN is not a window
        ([1.2] * 5, math.nan, "NODATA", "energy.fewer_than_k_windows"),
    ],
)
def test_energy_bound_boundaries(values: list[float], budget: float, status: str, rule: str) -> None:
    v = log_bound_verdict("energy", values, budget)
    assert (v.status, v.rule) == (status, rule)


def test_energy_fail_reports_its_statistics_and_critical_breach() -> None:
    v = log_bound_verdict("energy", [3.0, 3.1, 2.9, 3.05, 2.95], 1.0)
    assert v.critical  # far past 2x the budget
    assert set(v.stats) >= {"mean", "s", "k", "t", "lcb", "ucb", "budget"}
    assert v.stats["lcb"] > 1.0


def test_combine() -> None:
    from edgefleet.orchestrator.rollout.analysis import Verdict

    def v(s: str) -> Verdict:
        return Verdict("m", s, "r")  # type: ignore[arg-type]

    assert combine([v("PASS"), v("FAIL")]) == "FAIL"
    assert combine([v("PASS"), v("PASS")]) == "PASS"
    assert combine([v("NODATA"), v("NODATA")]) == "NODATA"
    assert combine([v("PASS"), v("NODATA")]) == "INCONCLUSIVE"
