"""The demo never deletes what it did not make, nor the state of a demo kept running (issue 17 item 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.tools.demo_workdir import MARKER, claim, record_processes, write_env


def test_a_directory_with_a_users_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FailedPrecondition, match="not empty and the demo did not create it"):
        claim(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_demo_directory_is_emptied_and_reused(tmp_path: Path) -> None:
    claim(tmp_path / "demo")
    (tmp_path / "demo" / "old.log").write_text("x")
    claim(tmp_path / "demo")
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [MARKER]


def test_a_kept_demo_still_running_is_refused(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    claim(demo)
    (demo / "orchestrator").mkdir()
    # a process whose command line says edgefleet, as the kept orchestrator's does
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "edgefleet"])
    try:
        record_processes(demo, {"orchestrator": alive.pid})
        with pytest.raises(FailedPrecondition, match=f"still runs in {demo}.*kill {alive.pid}"):
            claim(demo)
        assert (demo / "orchestrator").is_dir()
    finally:
        alive.kill()
        alive.wait()
    claim(demo)  # once it is gone, the directory is the demo's to reuse
    assert not (demo / "orchestrator").exists()


def test_the_env_file_points_the_cli_at_the_demo(tmp_path: Path) -> None:
    path = write_env(tmp_path, {"EDGEFLEET_SERVER": "127.0.0.1:4242", "EDGEFLEET_DATA_DIR": "/tmp/a b"})
    assert path.read_text() == (
        "export EDGEFLEET_DATA_DIR='/tmp/a b'\nexport EDGEFLEET_SERVER=127.0.0.1:4242\n"
    )
