"""The learnt estimate: the fit, its held-out error, the fallback to the prior, and the plan using it.

Synthetic cards and figures chosen by each test (the real measurements are the benchmark's:
tests/benchmarks/test_estimator_per_profile.py)."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
from scipy import stats

from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.profiles.model import Budgets, Profile
from edgefleet.orchestrator.selection import MeasuredFigures, select
from edgefleet.orchestrator.selection.learned import (
    MIN_VARIANTS,
    Point,
    TargetFit,
    fit_target,
    leave_one_out,
    predict,
)
from edgefleet.orchestrator.selection.prior import estimate
from edgefleet.orchestrator.selection.regression import ranks, ridge_toward, spearman
from edgefleet.orchestrator.variants.card import VariantCard
from tests.helpers.cards import card

REGISTRY = ProfileRegistry.load()
# the 45 nm op-count prior per MAC: float32 (3.7 + 0.9 pJ) vs int8 (0.2 + 0.03 pJ): ~20x; dynamic-range
# int8 a little more (float activation traffic)
PRIOR_PJ = {"float32": 4.6, "hybrid": 0.35, "int8": 0.23}


def profile() -> Profile:
    p = REGISTRY.get("rpi4")
    budgets = Budgets(0.9, 1.0, 1.0, 10**9, 10**9, 1.0)
    return dataclasses.replace(p, power=dataclasses.replace(p.power, ops_scale=1.0), budgets=budgets)


def variant(
    name: str, cls: str, macs: int, *, size: int = 10_000, dw: int = 0, base: str = "w1"
) -> VariantCard:
    """A card of dtype class ``cls`` whose prior energy is the op-count model's (compute only)."""
    c = card(
        name,
        recipe={"float32": "fp32", "hybrid": "dynamic_wi8_afp32", "int8": "static_wi8_ai8"}[cls],
        base=base,
        macs=macs,
        size=size,
        hybrid=cls == "hybrid",
        full_integer=cls == "int8",
        ops_j=(macs + dw) * PRIOR_PJ[cls] * 1e-12,
    )
    macs_by = {"conv": macs, "depthwise": dw, "fully_connected": 0, "other": 0}
    return dataclasses.replace(c, facts=dataclasses.replace(c.facts, macs=macs_by))


def points(cards: list[VariantCard], energy: dict[str, float]) -> list[Point]:
    return [Point(c, energy[c.variant_id], "measured") for c in cards]


def coefficients(fit: TargetFit) -> dict[str, float]:
    return {c.name: c.value for c in fit.coefficients if c.fitted}


# ---- the numbers ------------------------------------------------------------------------------------


def test_spearman_matches_scipy_with_ties() -> None:
    rng = random.Random(3)
    for _ in range(50):
        n = rng.randint(3, 30)
        a = [float(rng.randint(0, 6)) for _ in range(n)]  # many ties
        b = [rng.random() + 0.1 * x for x in a]
        if len(set(a)) < 2:
            continue
        assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert ranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_spearman_edges() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [5, 5, 5]) is None  # undefined, not 0 or NaN
    assert spearman([1, 2], [1, 2]) is None


def test_ridge_without_penalty_is_least_squares_and_the_penalty_pulls_toward_the_target() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = 1.5 + x @ np.array([0.5, -2.0, 0.0]) + rng.normal(scale=0.1, size=40)
    b0, b = ridge_toward(x, y, np.zeros(3), 0.0)
    ref, *_ = np.linalg.lstsq(np.column_stack([np.ones(40), x]), y, rcond=None)
    assert [b0, *b] == pytest.approx(ref.tolist())
    _, strong = ridge_toward(x, y, np.array([1.0, 1.0, 1.0]), 1e6)
    assert strong == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)


# ---- the fit ----------------------------------------------------------------------------------------


def test_recovers_known_coefficients() -> None:
    rng = random.Random(1)
    truth = {"hybrid (vs float32)": 1.0, "int8 (vs float32)": 0.15, "log MACs": 0.3, "log bytes": 0.2}
    cards, energy = [], {}
    for i in range(90):
        cls = ("float32", "hybrid", "int8")[i % 3]
        c = variant(f"v{i}", cls, rng.randint(50_000, 2_000_000), size=rng.randint(5_000, 60_000))
        log_e = -16.0 + truth["log MACs"] * math.log(c.facts.total_macs + 1)
        log_e += truth["log bytes"] * math.log(c.facts.size_bytes)
        log_e += {"float32": 0.0, "hybrid": truth["hybrid (vs float32)"], "int8": truth["int8 (vs float32)"]}[
            cls
        ]
        cards.append(c)
        energy[c.variant_id] = math.exp(log_e)
    fit = fit_target("energy", cards, profile(), points(cards, energy))
    got = coefficients(fit)
    for name, value in truth.items():
        assert got[name] == pytest.approx(value, abs=0.02), name
    assert got["intercept"] == pytest.approx(-16.0, abs=0.3)
    assert fit.kind == "learnt"
    assert fit.residual is not None
    assert fit.residual < 0.01
    assert fit.after.median_abs_log is not None
    assert fit.after.median_abs_log < 0.01
    assert fit.baseline_class == "float32"
    # the depthwise and fully-connected shares never vary here: left out, and said why
    notes = {c.name: c.note for c in fit.coefficients if not c.fitted}
    assert notes["depthwise share"] == "left out: the same for every measured variant"


def test_a_term_the_measured_variants_cannot_separate_is_left_out() -> None:
    # size grows exactly with MACs: log bytes adds nothing log MACs does not already say
    cards = [variant(f"v{i}", "float32", m, size=m // 10) for i, m in enumerate((1e5, 2e5, 4e5, 8e5, 16e5))]
    energy = {c.variant_id: 1e-6 * (c.facts.total_macs / 1e5) ** 0.5 for c in cards}
    hybrid = variant("h", "hybrid", 300_000)  # in the family, never measured
    fit = fit_target("energy", [*cards, hybrid], profile(), points(cards, energy))
    notes = {c.name: c.note for c in fit.coefficients}
    assert notes["log MACs"] == "fitted"
    assert "collinear with the terms already in" in notes["log bytes"]
    assert notes["hybrid (vs float32)"] == "left out: no measured hybrid variant"


def test_leave_one_out_is_each_variant_predicted_from_the_others() -> None:
    rng = random.Random(2)
    cards = [
        variant(f"v{i}", ("float32", "hybrid", "int8")[i % 3], rng.randint(50_000, 900_000))
        for i in range(12)
    ]
    factor = {"float32": 1.0, "hybrid": 2.7, "int8": 1.2}
    energy = {
        c.variant_id: 3e-6 * factor[cls] * (c.facts.total_macs / 1e5) ** 0.4 * rng.uniform(0.9, 1.1)
        for c, cls in zip(cards, [("float32", "hybrid", "int8")[i % 3] for i in range(12)], strict=True)
    }
    pts = points(cards, energy)
    before, after = leave_one_out("energy", cards, profile(), pts)
    for i, c in enumerate(cards):
        others = pts[:i] + pts[i + 1 :]
        held_out = fit_target("energy", cards, profile(), others)
        assert held_out.kind == "learnt"
        assert after[i] == pytest.approx(predict(held_out, c, profile()).value, rel=1e-9)
        scale = math.exp(np.mean([math.log(p.value / estimate(p.card, profile())[0]) for p in others]))
        assert before[i] == pytest.approx(estimate(c, profile())[0] * scale, rel=1e-9)
    fit = fit_target("energy", cards, profile(), pts)
    errors = [abs(math.log(after[i] / energy[c.variant_id])) for i, c in enumerate(cards)]
    assert fit.after.median_abs_log == pytest.approx(float(np.median(errors)))
    assert fit.after.max_abs_log == pytest.approx(max(errors))
    measured = [energy[c.variant_id] for c in cards]
    assert fit.after.spearman == pytest.approx(stats.spearmanr(after, measured).statistic)
    assert fit.before.spearman == pytest.approx(stats.spearmanr(before, measured).statistic)
    assert fit.after.points == fit.before.points == 12


# ---- falling back to the prior ----------------------------------------------------------------------


def test_below_the_minimum_the_prior_scaled_to_what_was_measured() -> None:
    cards = [variant("a", "float32", 100_000), variant("b", "int8", 200_000), variant("c", "hybrid", 300_000)]
    p = profile()
    nothing = fit_target("energy", cards, p, [])
    assert (nothing.kind, nothing.variants) == ("prior", 0)
    assert predict(nothing, cards[2], p).value == pytest.approx(estimate(cards[2], p)[0])
    assert predict(nothing, cards[2], p).kind == "prior"
    two = [
        Point(cards[0], 2 * estimate(cards[0], p)[0], "measured"),
        Point(cards[1], 8 * estimate(cards[1], p)[0], "measured"),
    ]
    assert len(two) < MIN_VARIANTS
    fit = fit_target("energy", cards, p, two)
    assert fit.kind == "prior"
    assert "the model needs 3" in fit.note
    got = predict(fit, cards[2], p)
    assert got.kind == "prior"
    assert got.error is None
    assert got.value == pytest.approx(estimate(cards[2], p)[0] * 4.0)  # geometric mean of 2 and 8
    assert "x4 (scaled to 2 measured variant(s))" in got.source


def test_the_prior_stays_where_the_model_does_not_beat_it_held_out() -> None:
    # measured exactly 3x the prior: the scaled prior is exact, a model of card facts cannot do better
    cards = [
        variant(f"v{i}", cls, m)
        for i, (cls, m) in enumerate(
            [("float32", 1e5), ("int8", 2e5), ("hybrid", 4e5), ("float32", 8e5), ("int8", 5e5)]
        )
    ]
    p = profile()
    fit = fit_target("energy", cards, p, [Point(c, 3 * estimate(c, p)[0], "measured") for c in cards])
    assert fit.kind == "prior"
    assert "not lower than the scaled prior's" in fit.note
    assert predict(fit, cards[0], p).value == pytest.approx(3 * estimate(cards[0], p)[0])


def test_a_dtype_class_nobody_measured_gets_the_prior() -> None:
    cards = [variant(f"f{i}", "float32", m) for i, m in enumerate((1e5, 2e5, 4e5, 8e5))]
    cards += [variant(f"q{i}", "int8", m) for i, m in enumerate((1e5, 2e5, 4e5, 8e5))]
    hybrid = variant("h", "hybrid", 3e5)
    energy = {
        c.variant_id: 1e-6 * (c.facts.total_macs / 1e5) ** 0.5 * (1.3 if c.facts.full_integer else 1.0)
        for c in cards
    }
    energy[cards[5].variant_id] *= 1.05  # not exactly on the model: the prior's LOO error is not 0 either
    p = profile()
    fit = fit_target("energy", [*cards, hybrid], p, points(cards, energy))
    assert fit.kind == "learnt"
    assert fit.measured_classes == ("float32", "int8")
    got = predict(fit, hybrid, p)
    assert got.kind == "prior"
    assert "no measured hybrid variant for the learnt model" in got.source
    assert predict(fit, cards[0], p).kind == "learnt"


# ---- the plan, where the prior ranks variants the wrong way round ------------------------------------


def family() -> tuple[list[VariantCard], dict[str, float]]:
    """3 widths x (float32, dynamic-range int8, full int8), with energies shaped like this host's: float32
    cheapest, dynamic-range ~2.7x, full int8 ~1.15x, sublinear in MACs; the prior says the opposite."""
    cards, energy = [], {}
    for base, macs, size in (
        ("w0.5", 120_000, 10_000),
        ("w1.0", 370_000, 20_000),
        ("w2.0", 1_260_000, 57_000),
    ):
        for cls, factor, shrink in (("float32", 1.0, 1.0), ("hybrid", 2.7, 0.45), ("int8", 1.15, 0.5)):
            c = variant(f"{base}-{cls}", cls, macs, size=int(size * shrink), base=base)
            cards.append(c)
            energy[c.variant_id] = 1.1e-5 * factor * (macs / 120_000) ** 0.45
    return cards, energy


def test_learnt_ranks_right_where_the_prior_ranks_wrong() -> None:
    cards, energy = family()
    p = profile()
    # the benchmark job measured 7 of the 9: not the cheapest (w0.5 float32), not w2.0 dynamic
    unmeasured = {cards[0].variant_id, cards[7].variant_id}
    measured = {
        c.variant_id: MeasuredFigures(8, energy[c.variant_id], 1e-7, "estimated", "estimate:cpu-time", 1e-4)
        for c in cards
        if c.variant_id not in unmeasured
    }
    before = select(cards, p)
    assert before.chosen is not None
    assert before.chosen.variant.variant_id == cards[2].variant_id  # prior: w0.5 full int8
    by_id = {c.variant.variant_id: c.figures.energy_j for c in before.candidates}
    for w in range(3):  # at every width the prior calls float32 the dearest; it is the cheapest
        fp32, dyn, int8 = cards[3 * w : 3 * w + 3]
        assert by_id[fp32.variant_id] > by_id[dyn.variant_id] > by_id[int8.variant_id]
        assert energy[fp32.variant_id] < energy[int8.variant_id] < energy[dyn.variant_id]
    plan = select(cards, p, measured=measured)
    assert plan.chosen is not None
    assert plan.chosen.variant.variant_id == cards[0].variant_id  # learnt: w0.5 float32, truly the cheapest
    figs = {c.variant.variant_id: c.figures for c in plan.candidates}
    assert figs[cards[0].variant_id].energy_figure == "learnt"
    assert figs[cards[0].variant_id].energy_error is not None
    assert figs[cards[1].variant_id].energy_figure == "estimated-on-device"
    assert figs[cards[0].variant_id].energy_j == pytest.approx(energy[cards[0].variant_id], rel=0.15)
    assert plan.compared_kinds == ("estimated-on-device", "learnt")
    assert "mixed kinds compared: estimated-on-device 7, learnt 2" in plan.comparison
    assert "measure it before relying on it" in plan.comparison
    assert plan.estimators is not None
    fit = plan.estimators.energy
    assert fit.kind == "learnt"
    assert fit.after.spearman is not None
    assert fit.before.spearman is not None
    assert fit.after.spearman > 0.8 > fit.before.spearman
    assert fit.after.median_abs_log is not None
    assert fit.before.median_abs_log is not None
    assert fit.after.median_abs_log < fit.before.median_abs_log
    assert coefficients(fit)["hybrid (vs float32)"] > 0.5  # dynamic-range int8 costs more than float32


def test_one_kind_compared_is_said_too() -> None:
    cards, _ = family()
    plan = select(cards, profile())
    assert plan.compared_kinds == ("prior",)
    assert plan.comparison == "one kind compared: prior energy figures for all 9 feasible variants"
