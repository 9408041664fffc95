"""`edgefleet plan --explain`: the figure kinds and the learnt estimators come through a real
`edgefleet serve` process, its gRPC API and the CLI (human and --json).

The devices' measurements are telemetry windows written into the orchestrator's real SQLite store before
it starts (what agents' windows become once ingested), shaped like this host's measurements: float32
cheapest, dynamic-range int8 ~2.9x, full int8 ~1.2x, sublinear in MACs. Real agents measuring six
variants would take minutes; the ingest path has its own tests."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.store import SqliteStore
from edgefleet.orchestrator.variants.card import VariantCard
from tests.helpers.processes import Served, orchestrator
from tests.integration.conftest import cli

FACTOR = {"fp32": 1.0, "dynamic_wi8_afp32": 2.9, "static_wi8_ai8": 1.2}
#: Not measured: their figures are learnt. w1.0 fp32 is the cheapest of the variants above rpi4's accuracy
#: floor on the scoring split (w0.5 fp32, cheaper still, scores under it).
UNMEASURED = {("w1.0", "fp32"), ("w2.0", "dynamic_wi8_afp32")}


def _energy(card: VariantCard) -> float:
    return 1.1e-5 * FACTOR[card.recipe] * (card.facts.total_macs / 1e5) ** 0.3


def _windows(card: VariantCard, device: str) -> list[WindowRecord]:
    e = _energy(card)
    return [
        WindowRecord(
            device_id=device,
            profile="rpi4",
            seq=i + 1,
            variant_id=card.variant_id,
            model="digits",
            recipe=card.recipe,
            start=1000.0 + 10 * i,
            end=1010.0 + 10 * i,
            inferences=400,
            gross_j=e * 3,
            dynamic_j=e * (1 + 0.01 * (i % 3 - 1)),
            sigma_j=e * 0.3,
            energy_kind="estimated",
            energy_method="estimate:cpu-time",
            latency_p50_s=e / 2.0,
            latency_p95_s=e / 1.5,
            latency_p99_s=e,
            labelled=0,
            correct=0,
            cpu_percent=20.0,
            rss_bytes=90_000_000,
            temperature_c=None,
            flags=(),
        )
        for i in range(6)
    ]


@pytest.fixture(scope="module")
def measured_server(
    template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, dict[str, VariantCard]]]:
    data = tmp_path_factory.mktemp("explain") / "orch"
    shutil.copytree(template, data)
    store = SqliteStore(data / "edgefleet.sqlite")
    try:
        cards = {c.variant_id: c for c in store.list_variants("digits")}
        assert len(cards) == 9
        for n, c in enumerate(sorted(cards.values(), key=lambda c: (c.base_name, c.recipe))):
            if (c.base_name, c.recipe) not in UNMEASURED:
                store.put_windows(_windows(c, f"dev-{n}"))
    finally:
        store.close()
    with orchestrator(data) as (_, served):
        yield served, cards


def _strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"--json printed {name}")

    return json.loads(text, parse_constant=refuse)


def test_kinds_and_estimators_in_json(measured_server: tuple[Served, dict[str, VariantCard]]) -> None:
    served, cards = measured_server
    code, out, err = cli(served, "plan", "digits", "-p", "rpi4", "--explain", "--json")
    assert code == 0, err
    plan = _strict(out)["plans"][0]
    kinds = {(c["base_name"], c["recipe"]): c["figures"]["energy_figure"] for c in plan["candidates"]}
    assert {k for k, v in kinds.items() if v == "learnt"} == UNMEASURED
    assert {v for k, v in kinds.items() if k not in UNMEASURED} == {"estimated-on-device"}
    learnt = next(c for c in plan["candidates"] if (c["base_name"], c["recipe"]) == ("w1.0", "fp32"))
    assert learnt["figures"]["energy_error"] is not None
    assert learnt["figures"]["latency_figure"] == "learnt"
    assert learnt["figures"]["energy_j"] == pytest.approx(_energy(cards[learnt["variant_id"]]), rel=0.25)
    # the learnt figure makes the truly cheapest variant the choice; the prior would pick full int8
    assert (plan["chosen"]["base_name"], plan["chosen"]["recipe"]) == ("w1.0", "fp32")
    assert plan["compared_kinds"] == ["estimated-on-device", "learnt"]
    feasible = [c for c in plan["candidates"] if c["feasible"]]
    on_device = sum(1 for c in feasible if c["figures"]["energy_figure"] == "estimated-on-device")
    learnt_n = sum(1 for c in feasible if c["figures"]["energy_figure"] == "learnt")
    assert on_device
    assert learnt_n
    assert plan["comparison"].startswith(
        f"mixed kinds compared: estimated-on-device {on_device}, learnt {learnt_n}"
    )
    assert "the chosen variant's figure is learnt" in plan["comparison"]
    energy = plan["estimators"]["energy"]
    assert energy["kind"] == "learnt"
    assert energy["variants"] == 7
    assert energy["trained_on"] == ["estimated-on-device"]
    terms = {c["name"]: c for c in energy["coefficients"]}
    assert terms["hybrid (vs float32)"]["fitted"]
    assert terms["hybrid (vs float32)"]["value"] > 0.5
    assert not terms["depthwise share"]["fitted"]
    assert terms["depthwise share"]["note"].startswith("left out: ")
    before, after = energy["before"], energy["after"]
    assert before["points"] == after["points"] == 7
    assert after["median_abs_log"] < before["median_abs_log"]
    assert after["median_pct_error"] == pytest.approx(math.expm1(after["median_abs_log"]) * 100, abs=0.06)
    assert after["spearman"] > before["spearman"]
    assert energy["residual"] is not None
    assert plan["estimators"]["latency"]["target"] == "latency"


def test_without_explain_the_kinds_still_show(measured_server: tuple[Served, dict[str, VariantCard]]) -> None:
    served, _ = measured_server
    code, out, _ = cli(served, "plan", "digits", "--json")
    assert code == 0
    plans = {p["profile"]: p for p in _strict(out)["plans"]}
    assert "estimators" not in plans["rpi4"]
    assert plans["rpi4"]["compared_kinds"] == ["estimated-on-device", "learnt"]
    # nothing measured on the phone: the prior, one kind, said so
    assert plans["phone"]["compared_kinds"] == ["prior"]
    assert plans["phone"]["comparison"].startswith("one kind compared: prior")


def test_explain_for_people(measured_server: tuple[Served, dict[str, VariantCard]]) -> None:
    served, _ = measured_server
    code, out, err = cli(served, "plan", "digits", "-p", "rpi4", "-p", "phone", "--explain")
    assert code == 0, err
    assert "figures: mixed kinds compared: estimated-on-device" in out
    assert "rpi4: estimators" in out
    assert "energy: learnt — learnt from 7 measured variants, fitted on estimated-on-device figures" in out
    assert "held out (leave one variant out, 7 variants): median |error|" in out
    assert "Spearman" in out
    assert "hybrid (vs float32)" in out
    assert "(learnt ±" in out
    assert "(on-device est.)" in out
    assert "phone: estimators" in out
    assert "energy: prior — nothing measured on phone: the prior" in out
