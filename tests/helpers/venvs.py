"""Throw-away virtual environments for testing against other runtime installs."""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import tomllib
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "venvs"


@contextmanager
def venv_lock(name: str) -> Iterator[None]:
    """Held while a cached venv is made or changed: tests on two xdist workers (or two checkouts' runs) may
    want the same one at once, and two `venv --clear` runs in one directory break each other."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_venv(name: str, requirements: list[str]) -> Path:
    """A venv under .cache/venvs/NAME with exactly these requirements; returns its python."""
    with venv_lock(name):
        return _cached_venv(name, requirements)


def _cached_venv(name: str, requirements: list[str]) -> Path:
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
    with venv_lock("train-extra"):
        python = _cached_venv("train-extra", project_requirements("micro", "orchestrator", "train"))
        stamp = python.parent.parent / ".project"
        digest = _project_digest()
        if not stamp.exists() or stamp.read_text() != digest:
            # never reinstalled under a test of another worker that runs this venv: only when the
            # checkout changed
            install_project(python)
            stamp.write_text(digest)
    return python


def _project_digest() -> str:
    """What the installed wheel is built from: pyproject and every file of the packages."""
    h = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
    for top in ("agent", "core", "orchestrator", "protos"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def build_from_checkout(argv: list[str]) -> None:
    """Run a pip command that builds this checkout (install it, make its wheel) under one file lock:
    setuptools builds in the checkout's own ``build/`` and ``edgefleet.egg-info/``, and two builds at once
    (two xdist workers) break each other (CI saw `pip wheel` fail while a venv installed the project)."""
    with venv_lock("project-build"):
        subprocess.run(argv, check=True, timeout=600, capture_output=True)


def install_project(python: Path) -> None:
    """Build and install this checkout's wheel into the venv (no dependencies: the venv has its own)."""
    build_from_checkout(
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
        ]
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
