from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edgefleet.agent.cli import app as agent_app
from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.reference import ReferenceFamily
from tests.helpers.tflite_builder import autoencoder_model

runner = CliRunner()


def test_demo_json_reports_every_model_on_both_runtimes(family: ReferenceFamily) -> None:
    result = runner.invoke(app, ["reference", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert {(r["model"], r["runtime"].split()[0]) for r in runs} == {
        (m.name, rt) for m in family.models for rt in ("ai-edge-litert", "tflite-micro")
    }
    for r in runs:
        assert abs(r["accuracy"] - r["recorded_accuracy"]) <= 1 / 360 + 1e-9
        assert 0 < r["latency_p50_s"] <= r["latency_p95_s"]


def test_agent_check_measures_a_model(family: ReferenceFamily) -> None:
    ref = family.models[0]
    result = runner.invoke(agent_app, ["check", str(ref.path), "--eval", str(family.eval_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["runtime"]["name"] == "ai-edge-litert"
    assert out["accuracy"] == ref.recorded_accuracy
    assert out["samples"] == 360


def test_agent_check_refuses_to_score_a_non_classifier(tmp_path: Path) -> None:
    """An autoencoder's 640 reconstructed values were scored by argmax as if they were classes."""
    model = tmp_path / "ad01.tflite"
    model.write_bytes(autoencoder_model())
    samples = tmp_path / "ad_eval.npz"
    np.savez(samples, x=np.zeros((6, 640), np.float32), y=np.arange(6) % 2)
    result = runner.invoke(agent_app, ["check", str(model), "--eval", str(samples), "--json"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"{model} outputs 640 values per sample (shape [640]), not one score for each of the 2" in line
    assert "edgefleet evaluates classifiers only" in line
    result = runner.invoke(agent_app, ["check", str(model), "--json"])  # timing alone is fine
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] is None


def test_agent_check_refuses_garbage_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x01" * 300)
    result = runner.invoke(agent_app, ["check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: ai-edge-litert" in result.stderr
    assert "cannot load the model" in result.stderr


def test_agent_runtime_reports_name_and_version() -> None:
    result = runner.invoke(agent_app, ["runtime", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["name"] == "ai-edge-litert"


def test_python_m_edgefleet_agent_is_the_console_script() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "edgefleet.agent", "runtime", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "ai-edge-litert"
