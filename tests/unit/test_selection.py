"""Table tests of the feasibility rules and the ranking."""

from __future__ import annotations

import dataclasses

import pytest

from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.profiles.model import Budgets, Profile
from edgefleet.orchestrator.selection import MeasuredFigures, select
from tests.helpers.cards import card

REGISTRY = ProfileRegistry.load()


def profile(name: str = "rpi4", **budgets: float) -> Profile:
    p = REGISTRY.get(name)
    # ops_scale 1 so a card's ops_j is its energy on the profile; latency_scale 1 likewise.
    power = dataclasses.replace(p.power, ops_scale=1.0, latency_scale=1.0)
    base = Budgets(
        accuracy_floor=0.9,
        max_energy_joules=1e-3,
        max_latency_p95_seconds=1e-2,
        max_model_bytes=1_000_000,
        max_peak_memory_bytes=1_000_000,
        max_accuracy_drop=1.0,
    )
    return dataclasses.replace(p, power=power, budgets=dataclasses.replace(base, **budgets))


def chosen_name(plan) -> str | None:  # type: ignore[no-untyped-def]
    return None if plan.chosen is None else plan.chosen.variant.variant_id


def vid(name: str) -> str:
    return card(name).variant_id


def test_min_energy_picks_the_least_energy_above_the_floor() -> None:
    cards = [card("a", ops_j=3e-6), card("b", ops_j=1e-6, accuracy=0.85), card("c", ops_j=2e-6)]
    plan = select(cards, profile())
    assert chosen_name(plan) == vid("c")
    rejected = {c.variant.variant_id: c.reasons for c in plan.candidates if not c.feasible}
    assert rejected == {vid("b"): ("accuracy 85.00% < floor 90.00%",)}


def test_max_accuracy_stays_within_the_energy_budget() -> None:
    cards = [
        card("a", accuracy=0.99, ops_j=2e-3),
        card("b", accuracy=0.97, ops_j=5e-4),
        card("c", accuracy=0.95),
    ]
    plan = select(cards, profile(), objective="max-accuracy")
    assert chosen_name(plan) == vid("b")
    assert plan.objective == "max-accuracy"


@pytest.mark.parametrize(
    ("objective", "cards", "winner"),
    [
        # equal energy: lower latency wins, then smaller size
        ("min-energy", [card("a", latency_s=2e-4), card("b", latency_s=1e-4)], "b"),
        ("min-energy", [card("a", size=20_000), card("b", size=10_000)], "b"),
        # equal accuracy: lower latency wins, then smaller size
        ("max-accuracy", [card("a", latency_s=3e-4, ops_j=1e-9), card("b", latency_s=1e-4)], "b"),
        ("max-accuracy", [card("a", size=9_000), card("b", size=10_000)], "a"),
    ],
)
def test_ties_break_by_latency_then_size(objective: str, cards: list, winner: str) -> None:  # type: ignore[type-arg]
    assert chosen_name(select(cards, profile(), objective=objective)) == vid(winner)


def test_nothing_feasible_names_the_least_violating_variant() -> None:
    cards = [card("a", accuracy=0.80), card("b", accuracy=0.88), card("c", accuracy=0.5, ops_j=1e-9)]
    plan = select(cards, profile())
    assert plan.chosen is None
    assert plan.least_violating is not None
    assert plan.least_violating.variant.variant_id == vid("b")
    assert "nothing is feasible" in plan.summary
    assert "accuracy 88.00% < floor 90.00%" in plan.summary


def test_measured_figures_override_estimates_and_scale_the_prior_of_the_others() -> None:
    cards = [card("a", ops_j=1e-6), card("b", ops_j=2e-6), card("c", ops_j=4e-6)]
    # Devices measured "a" at 30x its estimate and "c" at exactly its estimate: too few for the learnt
    # model (3), so the unmeasured "b" gets the prior scaled by their geometric mean, sqrt(30); "c"
    # (measured 4 µJ) now wins over both.
    measured = {
        vid("a"): MeasuredFigures(8, 3e-5, 2e-6, "measured", "hwmon:ina219:power1_input"),
        vid("c"): MeasuredFigures(5, 4e-6, 1e-7, "measured", "hwmon:ina219:power1_input"),
    }
    plan = select(cards, profile(), measured=measured)
    figures = {c.variant.variant_id: c.figures for c in plan.candidates}
    assert figures[vid("a")].energy_kind == "measured"
    assert figures[vid("a")].energy_figure == "measured"
    assert figures[vid("a")].energy_j == 3e-5
    assert figures[vid("a")].windows == 8
    assert "hwmon:ina219" in figures[vid("a")].energy_source
    assert figures[vid("b")].energy_kind == "estimated"
    assert figures[vid("b")].energy_figure == "prior"
    assert figures[vid("b")].energy_j == pytest.approx(2e-6 * 30**0.5)
    assert "scaled to 2 measured variant(s)" in figures[vid("b")].energy_source
    assert plan.compared_kinds == ("measured", "prior")
    assert plan.comparison.startswith("mixed kinds compared: measured 2, prior 1")
    assert chosen_name(plan) == vid("c")
    assert select(cards, profile()).chosen.variant.variant_id == vid("a")  # type: ignore[union-attr]


def test_too_few_windows_keep_the_estimate() -> None:
    cards = [card("a", ops_j=1e-6), card("b", ops_j=2e-6)]
    measured = {vid("a"): MeasuredFigures(4, 1e-3, 0.0, "measured", "rapl:package-0")}
    plan = select(cards, profile(), measured=measured)
    assert chosen_name(plan) == vid("a")
    assert plan.chosen is not None
    assert plan.chosen.figures.energy_kind == "estimated"


def test_device_accuracy_replaces_host_accuracy_on_the_same_samples_only() -> None:
    """Device accuracy counts distinct samples of the scoring split; it replaces the host's figure only once
    devices scored the very samples the host did (the same sample set, so the figures compare)."""
    cards = [card("a", accuracy=0.95), card("b", accuracy=0.94, ops_j=2e-6)]
    split = 360  # the test cards' host evaluation size

    def measured(scored: int, right: int) -> dict[str, MeasuredFigures]:
        figures = MeasuredFigures(6, 1e-6, 0.0, "estimated", "estimate:cpu-time", None, scored, right)
        return {vid("a"): dataclasses.replace(figures, split_size=split)}

    assert chosen_name(select(cards, profile())) == vid("a")
    partial = select(cards, profile(), measured=measured(200, 170))  # not the whole split yet: host figure
    assert chosen_name(partial) == vid("a")
    plan = select(cards, profile(), measured=measured(2 * split, 612))  # two devices, every sample each
    assert chosen_name(plan) == vid("b")  # 612/720 = 85% on devices: below the floor
    assert plan.candidates[-1].figures.accuracy_source == "devices, scoring split (612/720 distinct samples)"


@pytest.mark.parametrize(
    ("kwargs", "prof", "budget", "reason"),
    [
        (
            {"hybrid": True, "full_integer": False, "arena": None},
            "mcu-gateway",
            {},
            "hybrid: TFLite Micro cannot run it",
        ),
        (
            {"arena": None, "refusal": "Didn't find op RESIZE"},
            "mcu-gateway",
            {},
            "TFLite Micro refuses it: Didn't find op RESIZE",
        ),
        (
            {"full_integer": False, "recipe": "fp32"},
            "mcu-gateway",
            {},
            "not full-integer (float32 compute): mcu-gateway runs full-integer models only",
        ),
        ({"arena": 412_000}, "mcu-gateway", {}, "tflm arena 412000 B > sram 327680 B"),
        (
            {"size": 1_200_000},
            "mcu-gateway",
            {"max_model_bytes": 2_000_000},
            "model 1200000 B > flash 1048576 B",
        ),
        ({"accuracy": 0.8}, "rpi4", {}, "accuracy 80.00% < floor 90.00%"),
        ({"ops_j": 2.1e-3}, "rpi4", {"max_energy_joules": 1.5e-3}, "energy 2.1 mJ > budget 1.5 mJ"),
        (
            {"latency_s": 4.2e-3},
            "rpi4",
            {"max_latency_p95_seconds": 2e-3},
            "latency p95 4.2 ms > budget 2 ms",
        ),
        ({"size": 70_000}, "rpi4", {"max_model_bytes": 50_000}, "size 70000 B > max 50000 B"),
        ({"peak": 9_000}, "rpi4", {"max_peak_memory_bytes": 12_000}, "peak memory 13000 B > max 12000 B"),
        (
            {"accuracy": None},
            "rpi4",
            {},
            "no accuracy figure: the family has no evaluation set, so accuracy cannot be judged; "
            "register the variant with one (edgefleet variants add FILE --model NAME --eval FILE)",
        ),
    ],
)
def test_each_rule_rejects_with_its_numbers(kwargs: dict, prof: str, budget: dict, reason: str) -> None:  # type: ignore[type-arg]
    plan = select([card("x", **kwargs)], profile(prof, **budget))
    assert plan.chosen is None
    assert reason in plan.candidates[0].reasons


def test_accuracy_drop_against_the_fp32_base_of_the_same_width() -> None:
    cards = [
        card("base", recipe="fp32", full_integer=False, accuracy=0.95, ops_j=5e-6),
        card("int8", accuracy=0.935, ops_j=1e-6),
        card("other-width", base="w2", accuracy=0.93, ops_j=2e-6),
    ]
    plan = select(cards, profile(max_accuracy_drop=0.01))
    reasons = {c.variant.variant_id: c.reasons for c in plan.candidates}
    assert reasons[vid("int8")] == ("accuracy drop 1.50 pp vs fp32 base (95.00%) > 1.00 pp",)
    assert reasons[vid("other-width")] == ()  # no fp32 base of its width to compare against
    assert chosen_name(plan) == vid("other-width")


def test_exactly_at_the_floor_is_feasible() -> None:
    assert select([card("a", accuracy=0.9)], profile()).chosen is not None


def test_rolled_back_variants_are_excluded_with_the_reason() -> None:
    cards = [card("a", ops_j=1e-6), card("b", ops_j=2e-6)]
    plan = select(cards, profile(), blocked={vid("a"): "energy.t_lcb_above_budget in rollout r1"})
    assert chosen_name(plan) == vid("b")
    assert plan.candidates[-1].reasons == ("rolled back: energy.t_lcb_above_budget in rollout r1",)


def test_pareto_front_marks_undominated_variants() -> None:
    cards = [
        card("cheap", accuracy=0.91, ops_j=1e-6),
        card("accurate", accuracy=0.97, ops_j=3e-6),
        card("dominated", accuracy=0.90, ops_j=4e-6),
    ]
    front = {c.variant.variant_id for c in select(cards, profile()).candidates if c.pareto}
    assert front == {vid("cheap"), vid("accurate")}


def test_unknown_objective() -> None:
    with pytest.raises(InvalidArgument, match="unknown objective 'fastest'"):
        select([card("a")], profile(), objective="fastest")
