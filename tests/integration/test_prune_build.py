"""`edgefleet variants build MODEL.keras --train --eval --prune`, for real: the `train` extra (TensorFlow)
in a throw-away venv runs the CLI against a real `edgefleet serve`; the pruned variants load on LiteRT
and, int8, on TFLite Micro.

A small Keras model on sklearn's 8x8 digits, with a residual add (one mask for both branches), is
pruned at 0.5 with the Early-Bird ticket, fine-tuned, and built with a float and a full-integer recipe.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgefleet.agent.runtime import load_model
from edgefleet.core.evalset import load_eval_set
from edgefleet.orchestrator.registry.artifacts import ArtifactStore
from tests.helpers.processes import Served, orchestrator
from tests.helpers.venvs import train_extra_python

# Installing TensorFlow (~1.8 GB) and training take minutes on a loaded 2-core machine.
# One worker for every test of the `train` extra: one venv (.cache/venvs/train-extra), one training at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("train-extra")]

MAKE_INPUTS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
keras.utils.set_random_seed(7)
d = load_digits()
x = (d.images / 16.0).astype("float32")[..., None]
xt, xe, yt, ye = train_test_split(x, d.target.astype("int64"), test_size=0.3, stratify=d.target, random_state=1)
np.savez("train.npz", x=xt, y=yt)
np.savez("eval.npz", x=xe, y=ye)
np.savez("leaky.npz", x=np.concatenate([xt, xe[:5]]), y=np.concatenate([yt, ye[:5]]))
L = keras.layers
inp = keras.Input((8, 8, 1), name="image")
h = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inp)))
r = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(h)))
r = L.BatchNormalization()(L.Conv2D(16, 1, use_bias=False)(r))
h = L.ReLU()(L.Add()([h, r]))
h = L.ReLU()(L.BatchNormalization()(L.Conv2D(32, 1, use_bias=False)(h)))
out = L.Softmax()(L.Dense(10)(L.GlobalAveragePooling2D()(h)))
keras.Model(inp, out).save("tiny.keras")
flat = L.Dense(10, name="head")(L.Flatten(name="flatten")(L.BatchNormalization()(L.Conv2D(8, 3)(inp))))
keras.Model(inp, flat).save("flat.keras")
"""


@pytest.fixture(scope="module")
def train_python() -> Path:
    return train_extra_python()


@pytest.fixture(scope="module")
def inputs(train_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prune-inputs")
    proc = subprocess.run(
        [str(train_python), "-c", MAKE_INPUTS],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _cli(python: Path, served: Served, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "200", **served.env()}
    return subprocess.run(
        [str(python), "-m", "edgefleet.orchestrator", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with orchestrator(tmp_path_factory.mktemp("orch-prune")) as (_, served):
        yield served


def test_prune_build_end_to_end(train_python: Path, inputs: Path, served: Served) -> None:
    proc = _cli(
        train_python,
        served,
        inputs,
        "variants", "build", "tiny.keras", "--train", "train.npz", "--eval", "eval.npz",
        "--prune", "0.5", "--epochs", "4", "--search-epochs", "12",
        "--recipes", "fp32,static_wi8_ai8", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["skipped"] == []
    cards = {(c["base_name"], c["recipe"]): c for c in out["variants"]}
    assert set(cards) == {(b, r) for b in ("base", "base-p0.5") for r in ("fp32", "static_wi8_ai8")}

    dense, pruned = cards["base", "fp32"], cards["base-p0.5", "fp32"]
    assert dense["pruning"] is None
    record = pruned["pruning"]
    assert record["method"] == "early-bird"
    assert record["ratio"] == 0.5
    assert record["threshold"] == 0.1
    assert 5 <= record["ticket_epoch"] <= 12  # the queue of 5 masks must fill before a ticket
    assert record["macs_before"] == dense["total_macs"]
    assert record["macs_after"] == pruned["total_macs"]
    assert record["parameters_before"] == dense["parameters"]
    assert record["parameters_after"] == pruned["parameters"]
    # Every layer lost at least half its input or output channels: MACs fell by at least the ratio.
    assert pruned["total_macs"] <= (1 - 0.5) * dense["total_macs"]
    assert pruned["peak_activation_bytes"] < dense["peak_activation_bytes"]
    # 16 + 32 channels in two groups (the residual add's two producers share one): half of each.
    assert (record["channels_before"], record["channels_after"]) == (48, 24)
    assert cards["base-p0.5", "static_wi8_ai8"]["pruning"] == record  # the recipes' cards carry it too
    assert pruned["host"]["accuracy"] > 0.5  # trained, not noise (chance is 0.1)

    int8 = cards["base-p0.5", "static_wi8_ai8"]
    assert int8["full_integer"]
    assert int8["tflm_arena"]["total"] > 0
    evalset = load_eval_set(inputs / "eval.npz")
    store = ArtifactStore(served.data_dir)
    litert = load_model(store.read(pruned["variant_id"]), runtime="litert")
    micro = load_model(store.read(int8["variant_id"]), runtime="tflite-micro")
    for model in (litert, micro):
        scores = model.predict(evalset.x[:20])
        assert scores.shape == (20, 10)
        assert (np.argmax(scores, axis=1) == evalset.y[:20]).mean() > 0.5


def test_prune_refusals(train_python: Path, inputs: Path, served: Served) -> None:
    proc = _cli(
        train_python, served, inputs,
        "variants", "build", "flat.keras", "--train", "train.npz", "--eval", "eval.npz", "--prune", "0.5",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "flat.keras: cannot prune layer 'flatten' (Flatten)" in proc.stderr
    assert "Traceback" not in proc.stderr

    proc = _cli(
        train_python, served, inputs,
        "variants", "build", "tiny.keras", "--train", "leaky.npz", "--eval", "eval.npz", "--prune", "0.5",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "leaky.npz: 5 of its 1262 samples are also in the evaluation set" in proc.stderr
