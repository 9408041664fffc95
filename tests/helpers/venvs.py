"""Throw-away virtual environments for testing against other runtime installs."""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "venvs"


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


def project_requirements(*extras: str) -> list[str]:
    """The project's run-time requirements plus these extras' (pyproject is the one list)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    wanted = [*project["dependencies"], *(r for extra in extras for r in optional[extra])]
    return sorted({r for r in wanted if not r.startswith("edgefleet[")})


def train_extra_python() -> Path:
    """A venv with TensorFlow (the `train` extra) and the orchestrator's requirements, and this checkout."""
    python = cached_venv("train-extra", project_requirements("micro", "orchestrator", "train"))
    install_project(python)
    return python


def install_project(python: Path) -> None:
    """Build and install this checkout's wheel into the venv (no dependencies: the venv has its own)."""
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--force-reinstall",
            str(REPO),
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )


def run_python(python: Path, code: str, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


__all__ = ["cached_venv", "install_project", "project_requirements", "run_python", "train_extra_python"]
