"""`edgefleet benchmark` end to end (issue 16): `edgefleet serve`, real agent processes (LiteRT on rpi4,
TFLite Micro on mcu-gateway) and `edgefleet simulate` agents (phone), the CLI measuring candidates on them.
What serves never changes. No sensor here: real agents report the CPU-time estimate, labelled so;
simulated agents report synthetic figures labelled "simulated"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.client import AdminClient
from tests.helpers.processes import agent, orchestrator, stop, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV = {"EDGEFLEET_TRIAL_SECONDS": "1", "EDGEFLEET_HEARTBEAT_SECONDS": "1", "EDGEFLEET_WINDOW_SECONDS": "1"}


def benchmark(env: dict[str, str], profile: str) -> dict[str, Any]:
    args = ["benchmark", "digits", "-p", profile, "--top", "2", "--rounds", "2", "--turn", "0.3", "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    job: dict[str, Any] = json.loads(result.stdout)
    assert job["state"] == "done", job["reason"]
    assert job["results"]
    shown = CliRunner().invoke(app, ["benchmark", "show", job["job_id"], "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["job_id"] == job["job_id"]
    return job


def test_benchmark_measures_on_real_and_simulated_agents_and_changes_nothing_that_serves(
    tmp_path: Path,
) -> None:
    with orchestrator(tmp_path / "orch", env=ENV) as (_, served):
        env = served.env()
        built = CliRunner().invoke(app, ["variants", "build", "--reference", "--json"], env=env)
        assert built.exit_code == 0, built.output
        api = AdminClient(served.api, ca_pem=served.ca.read_bytes(), token=served.admin_token())
        ids = {(c.base_name, c.recipe): c.variant_id for c in api.list_variants("digits")}
        token = api.create_token(uses=10)[0]
        argv = [sys.executable, "-m", "edgefleet.orchestrator", "simulate", "--agents", "2"]
        argv += ["--profiles", "phone", "--duration", "600", "--window", "1"]
        argv += ["--orchestrator", served.agents, "--token", token]
        sim = subprocess.Popen(  # two simulated phones, kept up for the test's length
            argv,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with (
                agent(served, tmp_path / "rpi4", "rpi4", token, "--replay", "50"),
                agent(served, tmp_path / "mcu", "mcu-gateway", token),
            ):
                wait_until(lambda: sum(d.status == "online" for d in api.list_devices()) == 4, "4 online")
                serving = ids[("w1.0", "fp32")]
                api.deploy("digits", variant_id=serving, profiles=("rpi4",))
                wait_until(
                    lambda: any(
                        d.profile == "rpi4" and d.phase == "committed" and d.active is not None
                        for d in api.list_devices()
                    ),
                    "rpi4 serving",
                )
                before = {d.device_id: (d.active.variant_id if d.active else "") for d in api.list_devices()}

                real = benchmark(env, "rpi4")
                assert {r["energy_method"] for r in real["results"]} == {"estimate:cpu-time"}
                assert all(r["energy_kind"] == "estimated" and r["turns"] == 2 for r in real["results"])
                assert all(r["error"] == "" and r["scored"] > 0 for r in real["results"])
                assert all(r["serving_inferences"] > 0 for r in real["results"])  # replay kept serving

                micro = benchmark(env, "mcu-gateway")
                assert all(r["error"] == "" and r["turns"] == 2 for r in micro["results"])
                assert all(r["energy_kind"] == "estimated" for r in micro["results"])

                simulated = benchmark(env, "phone")
                assert {r["energy_method"] for r in simulated["results"]} == {"simulated"}

                after = {d.device_id: (d.active.variant_id if d.active else "") for d in api.list_devices()}
                assert after == before  # a benchmark never changes what serves
                assert serving in after.values()
                # the plan now ranks the measured candidates on the devices' figures (estimated: no sensor)
                [plan] = api.plan("digits", ("rpi4",))
                figure = {c.variant.variant_id: c.figures.energy_figure for c in plan.candidates}
                assert {figure[r["variant_id"]] for r in real["results"]} == {"estimated-on-device"}
        finally:
            stop(sim)
