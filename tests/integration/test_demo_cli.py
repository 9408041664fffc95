"""`edgefleet demo` refuses a --workdir holding a user's files, in one line, before starting anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.processes import BIN


def test_demo_refuses_a_workdir_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    proc = subprocess.run(
        [str(BIN / "edgefleet"), "demo", "--short", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "not empty and the demo did not create it" in lines[0]
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.tex"]
