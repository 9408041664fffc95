"""scripts/train_reference_models.py is deterministic: two runs give the same bytes.

The `train` extra (TensorFlow) in a throw-away venv runs the script twice in `--quick` mode (every code path:
the separately trained networks, the Once-for-All supernet and its sub-networks, Early-Bird search, pruning
and fine-tuning; a few epochs each) into two empty folders; every .tflite, family.json and eval.npz must be
byte for byte the same, and family.json must describe every network it wrote.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgefleet.orchestrator.reference import reference_grid
from tests.conftest import REPO
from tests.helpers.venvs import train_extra_python

# Installing TensorFlow (~1.8 GB) and training twice take minutes on a loaded 2-core machine.
# One worker for every test of the `train` extra: one venv (.cache/venvs/train-extra), one training at a time.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800), pytest.mark.xdist_group("train-extra")]

SCRIPT = REPO / "scripts" / "train_reference_models.py"


def _train(python: Path, out: Path) -> None:
    proc = subprocess.run(
        [str(python), str(SCRIPT), "--quick", "--out", str(out)],
        cwd=out.parent,
        env={"PATH": "/usr/bin:/bin", "HOME": str(out.parent)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_quick_runs_give_identical_bytes(tmp_path: Path) -> None:
    python = train_extra_python()
    first, second = tmp_path / "first", tmp_path / "second"
    _train(python, first)
    _train(python, second)

    files = sorted(p.name for p in first.iterdir() if p.name != "timings.json")
    assert files == sorted(p.name for p in second.iterdir() if p.name != "timings.json")
    different = [n for n in files if (first / n).read_bytes() != (second / n).read_bytes()]
    assert different == []

    family = json.loads((first / "family.json").read_text())
    assert family["training"]["quick"] is True
    written = sorted(p.name for p in first.glob("*.tflite"))
    assert sorted(m["file"] for m in family["models"]) == written
    # The same networks, under the same names, as the shipped family (only trained for fewer epochs).
    shipped = [(m.name, m.origin, m.width, m.demo) for m in reference_grid().models]
    quick = [(m["name"], m["origin"], m["width"], m["demo"]) for m in family["models"]]
    assert quick == shipped
    # The eval split is the shipped one (the script writes it when missing).
    assert (first / "eval.npz").read_bytes() == reference_grid().eval_path.read_bytes()
    timings = json.loads((first / "timings.json").read_text())
    assert {"once_for_all_supernet", "early_bird_w1.0", "digits_w0.5"} <= set(timings)
