"""`variants build` pruning options: bad input is one clear line, before anything trains or is sent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import cli

NOWHERE = "127.0.0.1:9"  # nothing listens: every case must fail before connecting


@pytest.fixture
def files(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.random((6, 8, 8, 1), dtype=np.float32), y=np.arange(6))
    np.savez(tmp_path / "eval.npz", x=rng.random((6, 8, 8, 1), dtype=np.float32), y=np.arange(6))
    np.savez(tmp_path / "overlap.npz", x=np.load(tmp_path / "eval.npz")["x"][:2], y=np.arange(2))
    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04 not really a keras file")
    (tmp_path / "m.tflite").write_bytes(b"\0" * 64)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["m.keras", "--prune", "0.5,1.5", "--train", "train.npz", "--eval", "eval.npz"],
            "--prune: ratio 1.5 is not strictly between 0 and 1",
        ),
        (
            ["m.keras", "--prune", "half", "--train", "train.npz", "--eval", "eval.npz"],
            "--prune: 'half' is not a number",
        ),
        (
            ["m.keras", "--prune", "0.5", "--eval", "eval.npz"],
            "--prune trains the model: give its training data with --train TRAIN.npz",
        ),
        (["m.keras", "--prune", "0.5", "--train", "train.npz"], "--prune needs --eval EVAL.npz"),
        (
            ["m.keras", "--train", "train.npz", "--eval", "eval.npz"],
            "--train is the training data of --prune; give --prune RATIOS too",
        ),
        (
            ["m.tflite", "--prune", "0.5", "--train", "train.npz", "--eval", "eval.npz"],
            "m.tflite: --prune needs a Keras model (.keras); a .tflite cannot be retrained",
        ),
        (
            ["m.keras", "--prune", "0.5", "--train", "overlap.npz", "--eval", "eval.npz"],
            "overlap.npz: 2 of its 2 samples are also in the evaluation set",
        ),
        (
            ["m.keras", "--prune", "0.5", "--train", "nope.npz", "--eval", "eval.npz"],
            "nope.npz: no such training data file",
        ),
        (["--grid"], "--grid goes with --reference"),
    ],
)
def test_bad_pruning_input(files: Path, args: list[str], message: str) -> None:
    resolved = [str(files / a) if a.endswith((".keras", ".tflite", ".npz")) else a for a in args]
    code, out, err = cli(NOWHERE, "variants", "build", *resolved)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_without_tensorflow_prune_says_what_to_install(files: Path) -> None:
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here")
    code, _, err = cli(
        NOWHERE, "variants", "build", str(files / "m.keras"),
        "--train", str(files / "train.npz"), "--eval", str(files / "eval.npz"), "--prune", "0.5",
    )  # fmt: skip
    assert code != 0
    assert "needs TensorFlow (the `train` extra): pip install 'edgefleet[train]'" in err
    assert "Traceback" not in err
