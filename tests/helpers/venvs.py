"""Throw-away virtual environments for testing against other runtime installs."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "venvs"


def cached_venv(name: str, requirements: list[str]) -> Path:
    """A venv under .cache/venvs/NAME with exactly these requirements; returns its python."""
    root = CACHE / name
    python = root / "bin" / "python"
    stamp = root / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    venv.EnvBuilder(clear=True, with_pip=True).create(root)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
        check=True,
        timeout=600,
    )
    stamp.write_text(wanted)
    return python


def run_python(python: Path, code: str, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


__all__ = ["cached_venv", "run_python"]
