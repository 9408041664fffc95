"""The README's main command in short mode: the whole product, and the rollback it must show."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import DemoRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.xdist_group("demo")
@pytest.mark.timeout(900)
def test_the_demo_rolls_out_and_rolls_back_with_a_recorded_reason(demo_run: DemoRun) -> None:
    proc = demo_run.proc
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    profiles = {"rpi4", "phone", "mcu-gateway"}
    assert set(result["plan_estimated"]) == profiles
    # measure, then choose: every profile's candidates were measured on its canary, the incumbent among them
    assert set(result["benchmark"]) == profiles
    for profile, bench in result["benchmark"].items():
        rows = bench["candidates"]
        assert all(r["measured_j"] is not None for r in rows), (profile, rows)
        assert any("incumbent" in r["why"] for r in rows)
    # a saving is shown, not assumed: a profile either runs a variant whose saving against the float32
    # baseline each of its devices proved (the lower bound of the interval above 0), or keeps float32 and
    # says why
    for profile in profiles:
        outcome, summary = result["rollouts"][profile], result["summary"][profile]
        if outcome["state"] == "succeeded":
            assert outcome["devices"]
            assert all(d["saving_lower"] > 0 for d in outcome["devices"].values()), outcome
            assert summary["runs"] == [outcome["variant"]]
        else:
            assert outcome["state"] in ("kept", "rolled_back", "aborted"), outcome  # aborted: no verdict
            assert outcome["reason"]
            assert summary["runs"] == ["w1.0 fp32"]
        assert summary["before"]["energy_j"] > 0
        assert summary["before"]["kind"] == "estimated"  # no energy sensor here, and it says so
    assert result["tightened"] == "rolled_back"
    event = result["rollback_event"]
    assert event["rule"] == "energy.t_lcb_above_budget"
    assert event["statistics"]["lcb"] > event["statistics"]["budget"]
    assert event["device"].startswith("rpi4-")
    assert result["variants"]  # ids come with their names
    assert "automatic rollback" in proc.stderr
    logs = demo_run.workdir / "logs"
    assert {p.name for p in logs.iterdir()} >= {
        "orchestrator.log",
        "agent-rpi4.log",
        "agent-phone.log",
        "agent-mcu-gateway.log",
    }
