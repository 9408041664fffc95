"""`edgefleet serve`'s model-probe helpers die with it, however it dies (issue 15 item 18).

SIGKILL gives the orchestrator no chance to shut its process pool down: the helpers must notice by
themselves (PR_SET_PDEATHSIG on Linux, a watchdog thread elsewhere)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.helpers.pids import kill_all, wait_gone
from tests.helpers.processes import orchestrator
from tests.helpers.tflite_builder import conv_fc_model
from tests.integration.conftest import cli

pytestmark = [pytest.mark.e2e]


def test_sigkill_of_serve_takes_its_probe_helpers_with_it(tmp_path: Path) -> None:
    model = tmp_path / "mine.tflite"
    model.write_bytes(conv_fc_model())
    samples = tmp_path / "eval.npz"
    rng = np.random.default_rng(0)
    np.savez(samples, x=rng.random((10, 4, 4, 2), dtype=np.float32), y=np.arange(10) % 5)
    with orchestrator(tmp_path / "orch") as (proc, served):
        code, _, err = cli(served, "variants", "add", str(model), "--model", "mine", "--eval", str(samples))
        assert code == 0, err  # the model was probed in the isolated helper
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        assert children, "the probe ran in no child process"
        try:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=20)
            assert wait_gone(children) == [], "children of serve alive after it was killed"
        finally:
            kill_all(children)  # leave nothing behind when the assertion fails
