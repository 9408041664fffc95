"""`edgefleet plan` and `edgefleet profiles` on the reference family, against a real orchestrator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import Served
from tests.integration.conftest import cli


@pytest.fixture(scope="module")
def plans(server: Served, built: dict[str, Any]) -> dict[str, dict[str, Any]]:
    code, out, err = cli(server, "plan", "digits", "--json")
    assert code == 0, err
    return {p["profile"]: p for p in json.loads(out)["plans"]}


def test_a_plan_for_every_builtin_profile(plans: dict[str, dict[str, Any]], built: dict[str, Any]) -> None:
    assert set(plans) == {"rpi4", "phone", "mcu-gateway"}
    for plan in plans.values():
        assert plan["chosen"] is not None, plan["summary"]
        # the 18 built, and any a test on the same shared server added (test_cli_variants adds one)
        assert {v["variant_id"] for v in built["variants"]} <= {c["variant_id"] for c in plan["candidates"]}
        assert any(c["pareto"] for c in plan["candidates"])
        rejected = [c for c in plan["candidates"] if not c["feasible"]]
        assert rejected
        assert all(c["reasons"] for c in rejected)
        assert plan["chosen"]["figures"]["energy_kind"] == "estimated"


def test_mcu_gateway_gets_a_full_integer_variant_whose_arena_fits(
    plans: dict[str, dict[str, Any]], built: dict[str, Any]
) -> None:
    chosen = plans["mcu-gateway"]["chosen"]
    card = next(v for v in built["variants"] if v["variant_id"] == chosen["variant_id"])
    assert card["full_integer"]
    assert card["tflm_arena"]["total"] <= 327680
    reasons = {
        c["recipe"]: c["reasons"] for c in plans["mcu-gateway"]["candidates"] if c["base_name"] == "w1.0"
    }
    assert "hybrid: TFLite Micro cannot run it" in reasons["dynamic_wi8_afp32"]


def test_chosen_variants_save_3x_energy_within_1pp_of_their_fp32_base(
    plans: dict[str, dict[str, Any]],
) -> None:
    for name, plan in plans.items():
        chosen = plan["chosen"]
        base = next(
            c for c in plan["candidates"] if c["base_name"] == chosen["base_name"] and c["recipe"] == "fp32"
        )
        assert chosen["recipe"] != "fp32", name
        ratio = base["figures"]["energy_j"] / chosen["figures"]["energy_j"]
        drop = base["figures"]["accuracy"] - chosen["figures"]["accuracy"]
        assert ratio >= 3.0, (name, ratio)
        assert drop <= 0.01, (name, drop)


def test_max_accuracy_objective(server: Served, built: dict[str, Any]) -> None:
    code, out, _ = cli(server, "plan", "digits", "-p", "rpi4", "--objective", "max-accuracy", "--json")
    assert code == 0
    plan = json.loads(out)["plans"][0]
    feasible = [c for c in plan["candidates"] if c["feasible"]]
    best = max(c["figures"]["accuracy"] for c in feasible)
    assert plan["chosen"]["figures"]["accuracy"] == best
    assert plan["objective"] == "max-accuracy"


def test_plan_table_for_people(server: Served, built: dict[str, Any]) -> None:
    code, out, _ = cli(server, "plan", "digits", "-p", "mcu-gateway")
    assert code == 0
    assert "CHOSEN" in out
    assert "hybrid: TFLite Micro cannot run it" in out


def test_plan_bad_input(server: Served, built: dict[str, Any]) -> None:
    code, _, err = cli(server, "plan", "digits", "-p", "jetson")
    assert code == 3
    assert "unknown profile 'jetson'" in err
    code, _, err = cli(server, "plan", "resnet")
    assert code == 3
    assert "no variants of model 'resnet'" in err
    code, _, err = cli(server, "plan", "digits", "--objective", "fastest")
    assert code == 2
    assert "unknown objective 'fastest'" in err


def test_profiles_list_and_show(server: Served) -> None:
    code, out, _ = cli(server, "profiles", "list", "--json")
    assert code == 0
    assert [p["name"] for p in json.loads(out)] == ["mcu-gateway", "phone", "rpi4"]
    code, out, _ = cli(server, "profiles", "show", "rpi4")
    assert code == 0
    assert "PowerJoular" in out


def test_profiles_validate(tmp_path: Path) -> None:
    from importlib import resources

    good = tmp_path / "good.toml"
    good.write_text(
        (resources.files("edgefleet.orchestrator.profiles") / "builtin" / "rpi4.toml").read_text()
    )
    code, out, _ = cli(None, "profiles", "validate", str(good))
    assert code == 0
    assert "ok (profile rpi4" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("max_energy_joules = 2.0e-4", 'max_energy_joules = "lots"'))
    code, _, err = cli(None, "profiles", "validate", str(bad))
    assert code == 2
    assert f"{bad}: budgets.max_energy_joules must be a number, got str 'lots'" in err.replace("\n", "")
    neg = tmp_path / "neg.toml"
    neg.write_text(good.read_text().replace("max_model_bytes = 67108864", "max_model_bytes = -1"))
    code, _, err = cli(None, "profiles", "validate", str(neg))
    assert code == 2
    assert "budgets.max_model_bytes must be > 0, got -1" in err
