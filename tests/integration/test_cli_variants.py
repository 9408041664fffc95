"""`edgefleet variants ...` against a real `edgefleet serve` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.variants.signatures import strip_signatures
from tests.helpers.processes import Served, api_channel
from tests.helpers.services import object_count
from tests.helpers.tflite_builder import autoencoder_model, conv_fc_model
from tests.integration.conftest import cli


def test_health_is_serving(server: Served) -> None:
    with api_channel(server) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_build_list_show(server: Served, built: dict[str, Any]) -> None:
    assert len(built["variants"]) == 18
    assert built["skipped"] == []

    code, out, _ = cli(server, "variants", "list", "--model", "digits", "--json")
    listed = json.loads(out)
    assert {v["variant_id"] for v in listed} == {v["variant_id"] for v in built["variants"]}
    static = [v for v in listed if v["recipe"] == "static_wi8_ai8"]
    assert all(v["tflm_arena"]["total"] > 0 and v["full_integer"] for v in static)
    assert all(v["energy_estimate"]["method"].startswith("estimate:ops") for v in listed)

    target = static[0]
    code, out, _ = cli(server, "variants", "show", target["variant_id"][:10], "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["variant_id"] == target["variant_id"]
    assert shown["macs"]["conv"] > 0

    code, out, _ = cli(server, "variants", "list")
    assert code == 0
    assert "static_wi8_ai8" in out
    assert "refused: Hybrid models are not supported" in out


def test_add_a_users_model(
    server: Served, built: dict[str, Any], family: ReferenceFamily, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.tflite"
    mine.write_bytes(strip_signatures(family.models[0].path.read_bytes()))  # no SignatureDef, like many
    code, out, err = cli(
        server, "variants", "add", str(mine), "--model", "digits", "--recipe", "nosig", "--json"
    )
    assert code == 0, err
    card = json.loads(out)
    assert card["recipe"] == "nosig"
    assert card["has_signature"] is False
    # the same network as the built fp32 of its base: the same figure on the same scoring split
    base = family.models[0].name.split("_")[1]
    [built_fp32] = [v for v in built["variants"] if (v["base_name"], v["recipe"]) == (base, "fp32")]
    assert card["host"]["accuracy"] == built_fp32["host"]["accuracy"]
    assert card["host"]["samples"] == built_fp32["host"]["samples"] < 360  # the scoring half of 360


def test_add_to_a_new_family_without_an_evaluation_set(server: Served, tmp_path: Path) -> None:
    """Issue 15 item 19: it said not_found. Now: registered, accuracy unknown, and the plan says why."""
    mine = tmp_path / "mine.tflite"
    mine.write_bytes(conv_fc_model())
    code, out, err = cli(server, "variants", "add", str(mine), "--model", "noeval", "--json")
    assert code == 0, err
    card = json.loads(out)
    assert card["model"] == "noeval"
    assert card["host"]["accuracy"] is None
    code, out, err = cli(server, "plan", "noeval", "--profile", "rpi4", "--json")
    assert code == 0, err
    (candidate,) = json.loads(out)["plans"][0]["candidates"]
    assert not candidate["feasible"]
    assert any(
        r.startswith("no accuracy figure: the family has no evaluation set") and "--eval FILE" in r
        for r in candidate["reasons"]
    ), candidate["reasons"]
    # building into it: the calibrated recipe is skipped naming the missing option
    base = tmp_path / "noeval_w1.tflite"
    base.write_bytes(conv_fc_model())
    code, out, err = cli(
        server, "variants", "build", str(base), "--recipes", "dynamic_wi8_afp32,static_wi8_ai8", "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert [v["recipe"] for v in result["variants"]] == ["dynamic_wi8_afp32"]
    (skipped,) = result["skipped"]
    assert skipped["recipe"] == "static_wi8_ai8"
    assert "--eval FILE" in skipped["reason"]


def test_a_non_classifier_is_refused_in_one_line_and_nothing_is_written(
    server: Served, tmp_path: Path
) -> None:
    model = tmp_path / "ad01.tflite"
    model.write_bytes(autoencoder_model(legacy_opcodes=True))  # like MLPerf Tiny's anomaly detector
    samples = tmp_path / "ad_eval.npz"
    rng = np.random.default_rng(0)
    np.savez(samples, x=rng.random((20, 640), dtype=np.float32), y=np.arange(20) % 2)
    objects = object_count(server.data_dir)
    for command in (
        ("variants", "add", str(model), "--model", "anomaly", "--eval", str(samples)),
        ("variants", "build", str(model), "--model", "anomaly", "--eval", str(samples)),
    ):
        code, out, err = cli(server, *command)
        assert code == 2, (command, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert (
            "outputs 640 values per sample (shape [640]), not one score for each of the 2 classes" in lines[0]
        )
        assert "edgefleet evaluates classifiers only (accuracy = argmax of the scores)" in lines[0]
    code, out, _ = cli(server, "variants", "list", "--model", "anomaly", "--json")
    assert (code, json.loads(out)) == (0, [])
    assert object_count(server.data_dir) == objects


def test_errors_map_to_exit_codes(server: Served, family: ReferenceFamily, tmp_path: Path) -> None:
    code, _, err = cli(server, "variants", "show", "deadbeef00")
    assert code == 3
    assert "no variant deadbeef00" in err

    junk = tmp_path / "junk_w1.tflite"
    junk.write_bytes(b"not a model" * 50)
    code, _, err = cli(server, "variants", "build", str(junk), "--eval", str(family.eval_path))
    assert code == 2
    assert "not a TFLite flatbuffer" in err

    code, _, err = cli(
        server, "variants", "build", str(family.models[0].path), "--eval", str(tmp_path / "nope.npz")
    )
    assert code == 2
    assert "nope.npz: no such evaluation set file" in err

    code, _, err = cli(server, "variants", "build", "--reference", "--recipes", "fp32,int3_magic")
    assert code == 2
    assert "unknown recipe(s) ['int3_magic']" in err


def test_unreachable_orchestrator_is_exit_8() -> None:
    code, _, err = cli("127.0.0.1:1", "variants", "list")
    assert code == 8
    assert "cannot reach the orchestrator at 127.0.0.1:1" in err
