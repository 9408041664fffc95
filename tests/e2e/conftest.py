"""One `edgefleet demo --short` run shared by the tests that read it (the demo is minutes of real processes;
two at once on two cores would starve each other)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class DemoRun:
    proc: subprocess.CompletedProcess[str]
    workdir: Path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The README's main command in short mode, with --json (the story goes to stderr)."""
    workdir = tmp_path_factory.mktemp("demo-run") / "demo"
    exe = Path(sys.executable).with_name("edgefleet")
    proc = subprocess.run(
        [str(exe), "demo", "--short", "--json", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    return DemoRun(proc, workdir)
