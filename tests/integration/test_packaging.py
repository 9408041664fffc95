"""What `pip install .` puts into site-packages: only the edgefleet namespace, every package of it, its
data files, and the two console scripts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.venvs import build_from_checkout
from tests.unit.test_layout import MODULES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build_from_checkout(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)]
    )
    [path] = list(Path(out).glob("edgefleet-*.whl"))
    return zipfile.ZipFile(path)


def test_the_wheel_installs_only_the_edgefleet_namespace(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"edgefleet"}


def test_every_module_and_data_file_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = [
        m
        for m, path in MODULES.items()
        if f"{m.replace('.', '/')}{'/__init__' if path.name == '__init__.py' else ''}.py" not in names
    ]
    assert missing == []
    assert any(
        n.startswith("edgefleet/orchestrator/profiles/builtin/") and n.endswith(".toml") for n in names
    )
    assert any(
        n.startswith("edgefleet/orchestrator/reference/digits/") and n.endswith(".tflite") for n in names
    )
    assert {"edgefleet/v1/control_pb2.py", "edgefleet/v1/control.proto", "edgefleet/py.typed"} <= names


def test_console_scripts(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "edgefleet = edgefleet.orchestrator.cli.app:main" in text
    assert "edgefleet-agent = edgefleet.agent.cli:main" in text


def test_python_dash_m_runs_the_orchestrator_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edgefleet.orchestrator", "version", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"edgefleet"' in proc.stdout
