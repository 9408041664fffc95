"""The README's main command, as a user runs it: a real `edgefleet demo` process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_edgefleet_demo_process_runs_every_reference_model() -> None:
    exe = Path(sys.executable).with_name("edgefleet")
    proc = subprocess.run(
        [str(exe), "reference", "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert len(runs) == 6
    assert all(r["accuracy"] > 0.9 for r in runs)
