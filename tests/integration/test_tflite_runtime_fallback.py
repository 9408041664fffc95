"""The fallback path, for real: a venv with only tflite-runtime 2.14 and numpy<2 (an old device image).

No ai_edge_litert exists there, so the wrapper must take the tflite_runtime path,
say so, and run the reference models to their recorded accuracy.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from tests.helpers.venvs import cached_venv, install_project, run_python

pytestmark = pytest.mark.slow

SCRIPT = """
import json, pathlib, importlib.util
from edgefleet.core.evalset import load_eval_set
from edgefleet.agent.runtime import load_model, runtime_info
from edgefleet.agent.runtime.measure import measure_accuracy
from edgefleet.orchestrator.reference import reference_family
fam = reference_family()
ev = load_eval_set(fam.eval_path)
out = {"litert_importable": importlib.util.find_spec("ai_edge_litert") is not None,
       "runtime": [runtime_info().name, runtime_info().version], "models": {}}
for ref in fam.models:
    m = load_model(ref.path)
    out["models"][ref.name] = [m.runtime.name, measure_accuracy(m, ev.x, ev.y).value, ref.recorded_accuracy]
try:
    load_model(b"\\0" * 256, source="garbage.tflite")
except Exception as exc:
    out["garbage"] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def old_image_python():  # type: ignore[no-untyped-def]
    python = cached_venv("tflite-runtime-2.14", ["tflite-runtime==2.14.0", "numpy<2"])
    install_project(python)  # as a device image would: the wheel, without its (LiteRT) dependencies
    return python


def test_tflite_runtime_fallback_runs_the_reference_family(old_image_python) -> None:  # type: ignore[no-untyped-def]
    proc = run_python(old_image_python, SCRIPT, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["litert_importable"] is False
    assert out["runtime"] == ["tflite-runtime", "2.14.0"]
    assert len(out["models"]) == 3
    for name, (runtime, accuracy, recorded) in out["models"].items():
        assert runtime == "tflite-runtime", name
        assert abs(accuracy - recorded) <= 1 / 360 + 1e-9, name
    kind, message = out["garbage"]
    assert kind == "ModelLoadError"
    assert message.startswith("garbage.tflite: tflite-runtime 2.14.0 cannot load the model:")
