"""Savings are proven, not assumed (issue 16): a candidate that costs more than what a device ran before is
rolled back with `energy.no_saving_vs_incumbent` and its statistics, on real processes. On this machine the
energy is the agent's CPU-time estimate (no sensor), labelled so; the logic is the same with a sensor."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.client import AdminClient
from tests.helpers.processes import agent, orchestrator, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV = {
    "EDGEFLEET_TRIAL_SECONDS": "1",
    "EDGEFLEET_HEARTBEAT_SECONDS": "1",
    "EDGEFLEET_WINDOW_SECONDS": "0.5",
    "EDGEFLEET_CANARY_SECONDS": "3",
    "EDGEFLEET_ROLLOUT_TICK_SECONDS": "0.3",
}
#: Budgets every reference variant meets here: only the comparison with the incumbent can fail.
GENEROUS = {
    "accuracy_floor": 0.5,
    "max_energy_joules": 1.0,
    "max_latency_p95_seconds": 1.0,
    "bake_seconds": 1.0,
    "pause_after_seconds": 240.0,
}


def test_a_costlier_candidate_is_rolled_back_for_no_saving(tmp_path: Path) -> None:
    with orchestrator(tmp_path / "orch", env=ENV) as (_, served):
        built = CliRunner().invoke(app, ["variants", "build", "--reference", "--json"], env=served.env())
        assert built.exit_code == 0, built.output
        api = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
        ids = {(c.base_name, c.recipe): c.variant_id for c in api.list_variants("digits")}
        cheap, costly = ids[("w0.5", "fp32")], ids[("w2.0", "dynamic_wi8_afp32")]
        token = api.create_token()[0]
        with agent(served, tmp_path / "rpi4", "rpi4", token, "--replay", "200"):
            wait_until(lambda: [d for d in api.list_devices() if d.status == "online"], "the agent online")
            api.deploy("digits", variant_id=cheap)
            wait_until(lambda: api.list_devices()[0].phase == "committed", "the incumbent committed")
            # the incumbent's own measurements on this device, before the rollout
            wait_until(
                lambda: sum(t.windows for t in api.telemetry("digits", "rpi4")) >= 12, "incumbent windows"
            )
            rollout = api.start_rollout("digits", variants={"rpi4": costly}, policy=GENEROUS)
            final = wait_until(
                lambda: (r := api.get_rollout(rollout.rollout_id)).state not in ("running", "pending") and r,
                "the rollout's end",
            )
            assert final.state == "rolled_back", final.state_reason
            assert final.pause_after_seconds == 240.0  # the policy's every setting travels the wire
            [decision] = api.events(kind="rollout.decision", rollout_id=rollout.rollout_id)
            assert decision.rule == "energy.no_saving_vs_incumbent"
            stats = decision.details["statistics"]
            assert stats["candidate_j"] > stats["incumbent_j"]
            assert stats["saving"] < 0 < stats["incumbent_windows"]
            assert stats["saving_upper"] < 0.05  # sure the saving is below the least worth deploying
            # the variant stays blocked on the profile, and the device is back on its incumbent
            [plan] = api.plan("digits", ("rpi4",))
            [blocked] = [c for c in plan.candidates if c.variant.variant_id == costly]
            assert any(r.startswith("rolled back") for r in blocked.reasons)
            wait_until(
                lambda: (d := api.list_devices()[0]).active is not None and d.active.variant_id == cheap,
                "back on the incumbent",
            )
