"""The whole path with real processes: `edgefleet serve` and three `edgefleet-agent run` (one per profile)."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from edgefleet.agent.local_client import LocalInference
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.cli.app import app
from edgefleet.v1 import inference_pb2, inference_pb2_grpc
from tests.helpers.processes import Served, agent, orchestrator, stop, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PROFILES = ("rpi4", "phone", "mcu-gateway")
runner = CliRunner()


def cli(server: Served, *args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"], env=server.env())
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_serve_and_three_agents_deploy_the_reference_family(tmp_path: Path, evalset: EvalSet) -> None:
    env = {"EDGEFLEET_TRIAL_SECONDS": "1", "EDGEFLEET_HEARTBEAT_SECONDS": "1"}
    with orchestrator(tmp_path / "orch", env=env) as (server, served), ExitStack() as agents:
        cli(served, "variants", "build", "--reference")
        token = cli(served, "devices", "token", "--uses", "3")["token"]
        sockets = {p: tmp_path / f"{p}.sock" for p in PROFILES}  # the fast local path, beside gRPC
        procs = {
            p: agents.enter_context(
                agent(served, tmp_path / p, p, token, "--replay", "20", "--local-socket", str(sockets[p]))
            )
            for p in PROFILES
        }
        wait_until(lambda: len(cli(served, "devices", "list")) == 3, "3 devices", timeout=90)
        assignments = cli(served, "deploy", "digits")
        assert sorted(a["profile"] for a in assignments) == sorted(PROFILES)
        plan = {p["profile"]: p["chosen"]["variant_id"] for p in cli(served, "plan", "digits")["plans"]}
        assert {a["profile"]: a["variant_id"] for a in assignments} == plan

        def all_committed() -> list[dict[str, Any]] | None:
            devices = cli(served, "devices", "list")
            ok = all(
                d["phase"] == "committed"
                and (d["active"] or {}).get("variant_id") == d["desired"]["variant_id"]
                for d in devices
            )
            return devices if ok else None

        devices = {d["profile"]: d for d in wait_until(all_committed, "all committed", timeout=90)}
        assert devices["mcu-gateway"]["runtime_name"] == "tflite-micro"
        assert devices["rpi4"]["runtime_name"] == "ai-edge-litert"
        for profile in PROFILES:
            address_file = tmp_path / profile / "predict.addr"
            with grpc.insecure_channel(address_file.read_text().strip()) as channel:
                stub = inference_pb2_grpc.InferenceStub(channel)
                predicted = []
                for i in range(30):
                    x = evalset.x[i : i + 1]
                    reply = stub.Predict(
                        inference_pb2.PredictRequest(
                            input=inference_pb2.Tensor(shape=list(x.shape), dtype="float32", data=x.tobytes())
                        ),
                        timeout=10,
                    )
                    predicted.append(reply.classes[0])
                    assert reply.variant.variant_id == plan[profile]
            with LocalInference(sockets[profile]) as local:  # the agent's process answers the same
                for i in range(30):
                    reply = local.predict(evalset.x[i : i + 1])
                    assert reply.classes[0] == predicted[i]
                    assert reply.variant.variant_id == plan[profile]
            accuracy = float(np.mean(np.array(predicted) == evalset.y[:30]))
            assert accuracy >= 0.85, (profile, accuracy)
        for profile, proc in procs.items():
            assert stop(proc) == 0, profile
        assert server.poll() is None
