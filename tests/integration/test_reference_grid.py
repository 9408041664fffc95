"""The shipped grid: the demo's three separately trained networks (unchanged), the Once-for-All sub-networks
at every width and the Early-Bird-pruned networks, each as recorded; `variants build --reference --grid`
builds all of them through a real `edgefleet serve`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Iterator

import pytest

from edgefleet.agent.runtime import RuntimeName, load_model
from edgefleet.agent.runtime.measure import measure_accuracy
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.reference import ReferenceFamily, reference_grid
from edgefleet.orchestrator.variants.analyser import analyse_graph
from edgefleet.orchestrator.variants.graph import read_graph
from tests.helpers.processes import Served, orchestrator
from tests.integration.conftest import cli

#: The demo's networks; ~600 tests and the profiles' accuracy floors are calibrated on these very bytes.
DEMO_SHA256 = {
    "digits_w0.5": "516efeb995bf3899d5f64b4bad5d5b9472a31bada3903cc5e29cb79fa960efc8",
    "digits_w1.0": "9c32c9e184938162658d2123e15b223853ec86c7bfde592e4c3cf3793bf60b31",
    "digits_w2.0": "b26fa599793bd61bb9c313c1dcae2a51097efbeacb540521ddc39cee453c1e4b",
}
OFA_WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
PRUNED = ["eb_w1.0-p0.3", "eb_w1.0-p0.5", "eb_w1.0-p0.7"]


@pytest.fixture(scope="module")
def grid() -> ReferenceFamily:
    return reference_grid()


def test_the_demo_family_is_the_three_separately_trained_networks(
    grid: ReferenceFamily, family: ReferenceFamily
) -> None:
    assert [m.name for m in family.models] == list(DEMO_SHA256)
    for m in family.models:
        assert hashlib.sha256(m.path.read_bytes()).hexdigest() == DEMO_SHA256[m.name], m.name
        assert (m.origin, m.demo, m.pruning) == ("separately-trained", True, None)
    assert [m for m in grid.models if m.demo] == list(family.models)
    # The scoring-split accuracies the profiles' floors (rpi4 0.93, phone 0.92, mcu-gateway 0.90) rest on.
    assert [round(m.scoring_accuracy or 0, 4) for m in family.models] == [0.9231, 0.9396, 0.9286]


def test_grid_holds_the_demo_family_and_more(grid: ReferenceFamily, family: ReferenceFamily) -> None:
    assert grid.eval_path == family.eval_path
    assert Counter(m.origin for m in grid.models) == {
        "separately-trained": 3,
        "once-for-all": 6,
        "early-bird": 3,
    }
    ofa = [m for m in grid.models if m.origin == "once-for-all"]
    assert [m.name for m in ofa] == [f"digits_ofa_w{w}" for w in OFA_WIDTHS]
    assert [m.width for m in ofa] == OFA_WIDTHS
    assert all(m.pruning is None and not m.demo for m in ofa)
    macs = [m.macs for m in ofa]
    assert macs == sorted(macs)
    assert len(set(macs)) == len(macs)
    pruned = [m for m in grid.models if m.origin == "early-bird"]
    assert [m.base_name for m in pruned] == PRUNED
    assert len({m.base_name for m in grid.models}) == len(grid.models)  # no two share a variant name
    assert grid.training is not None
    assert grid.training["once_for_all"]["widths"] == OFA_WIDTHS
    assert grid.training["quick"] is False
    # Every training has its CPU seconds; the sub-networks share the supernet's.
    assert grid.timings is not None
    assert {"once_for_all_supernet", "early_bird_w1.0", *DEMO_SHA256} <= set(grid.timings)


def test_recorded_figures_are_the_files(grid: ReferenceFamily) -> None:
    for m in grid.models:
        facts = analyse_graph(read_graph(m.path.read_bytes()))
        assert (m.macs, m.parameters) == (facts.total_macs, facts.parameters), m.name


def test_pruned_networks_carry_their_ticket(grid: ReferenceFamily) -> None:
    for m in grid.models:
        if m.pruning is None:
            continue
        record = m.pruning
        assert m.base_name.endswith(f"-p{record.ratio:g}")
        assert (record.macs_after, record.parameters_after) == (m.macs, m.parameters)
        # Every layer kept at most (1 - ratio) of its channels: MACs fell at least by the ratio.
        assert record.macs_after <= (1 - record.ratio) * record.macs_before, m.name
        assert record.channels_after <= (1 - record.ratio) * record.channels_before
        assert record.ticket_drawn, m.name
        assert record.ticket_epoch >= 5  # the queue of five masks fills first
        assert record.mask_distance < record.threshold


@pytest.mark.parametrize("runtime", ["litert", "tflite-micro"])
def test_every_grid_network_scores_what_was_recorded(
    grid: ReferenceFamily, evalset: EvalSet, runtime: RuntimeName
) -> None:
    scoring = evalset.split().scoring
    for ref in grid.models:
        model = load_model(ref.path, runtime=runtime)
        assert model.input.shape == (1, 32, 32, 1)
        whole = measure_accuracy(model, evalset.x, evalset.y).value
        part = measure_accuracy(model, scoring.x, scoring.y).value
        # Recorded with LiteRT; allow one sample of float-rounding difference.
        assert abs(whole - ref.recorded_accuracy) <= 1 / len(evalset) + 1e-9, ref.name
        assert ref.scoring_accuracy is not None
        assert abs(part - ref.scoring_accuracy) <= 1 / len(scoring) + 1e-9, ref.name


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with orchestrator(tmp_path_factory.mktemp("orch-grid")) as (_, served):
        yield served


@pytest.mark.slow
def test_variants_build_reference_grid_through_serve(grid: ReferenceFamily, served: Served) -> None:
    recipes = ("fp32", "static_wi8_ai8")  # a float and a full-integer recipe: the grid's shape, half the time
    code, out, err = cli(
        served, "variants", "build", "--reference", "--grid", "--recipes", ",".join(recipes), "--json"
    )
    assert code == 0, err
    built = json.loads(out)
    assert built["skipped"] == []
    cards = {(c["base_name"], c["recipe"]): c for c in built["variants"]}
    assert set(cards) == {(m.base_name, r) for m in grid.models for r in recipes}
    for m in grid.models:
        fp32, int8 = cards[m.base_name, "fp32"], cards[m.base_name, "static_wi8_ai8"]
        assert fp32["total_macs"] == m.macs
        assert fp32["sha256"] == hashlib.sha256(m.path.read_bytes()).hexdigest()
        assert abs(fp32["host"]["accuracy"] - (m.scoring_accuracy or 0)) <= 1 / 182 + 1e-9, m.name
        assert int8["full_integer"], m.name
        assert int8["tflm_arena"]["total"] > 0, m.name
        expected = None if m.pruning is None else dataclasses.asdict(m.pruning)
        assert fp32["pruning"] == int8["pruning"] == expected, m.name

    # Every profile's plan weighs the whole grid on the same figures.
    code, out, err = cli(served, "plan", "digits", "--json")
    assert code == 0, err
    plans = json.loads(out)["plans"]
    assert {p["profile"] for p in plans} == {"rpi4", "phone", "mcu-gateway"}
    for plan in plans:
        assert {c["variant_id"] for c in plan["candidates"]} == {c["variant_id"] for c in built["variants"]}
