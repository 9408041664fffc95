"""docker-compose.yml and the images' scripts, without a Docker engine (issue 17 item 11):

- Debian's docker-compose validates the file (`config -q`), as CI runs it;
- the `certs` one-shot's ownership step (deploy/docker/certs-init.sh, what the image runs as root) is run
  as root into a directory, then the orchestrator's uid reads the keys and serves from it: the
  PermissionError of `docker compose up` was exactly this path;
- the Dockerfiles' HEALTHCHECK script answers for a real orchestrator and a real /metrics endpoint;
- .dockerignore keeps .venv, .git and the caches out of the build context (docker-py's own matcher, which
  docker-compose uses to build the context).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from edgefleet.core.metrics import serve_metrics
from tests.conftest import REPO
from tests.helpers.processes import BIN, read_until, stop
from tests.helpers.system import system_binary
from tests.integration.test_deploy_files import DEPLOY, IMAGE_UID

CERTS_INIT = DEPLOY / "docker/certs-init.sh"
HEALTHCHECK = DEPLOY / "docker/healthcheck.py"
SECRET_FILES = ("ca.key", "server.key", "admin.token")
LISTENING = re.compile(r"listening on (\S+:\d+) .*API on (\S+:\d+)")


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = system_binary("docker-compose")
    return subprocess.run(
        [binary, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("GRAFANA_ADMIN_PASSWORD", "EDGEFLEET_STORE")}
        | (env or {}),
    )


def test_docker_compose_config_is_valid() -> None:
    env = {"GRAFANA_ADMIN_PASSWORD": "test-only-password"}
    for args in (["config", "-q"], ["--profile", "replicas", "config", "-q"]):
        proc = compose(*args, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # (which services a profile enables is checked on the file: docker-compose 1.29 lists them all)


def test_docker_compose_refuses_to_run_grafana_without_an_admin_password() -> None:
    proc = compose("config", "-q")
    assert proc.returncode != 0
    assert "set GRAFANA_ADMIN_PASSWORD" in proc.stderr


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another uid can reach (pytest's tmp_path lives under a 0700 directory of root)."""
    path = Path(tempfile.mkdtemp(prefix="edgefleet-compose-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_image_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run as the images' `edgefleet` uid/gid (no supplementary groups), like the orchestrator container."""
    setpriv = system_binary("setpriv")
    return subprocess.run(
        [setpriv, f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups", *argv],
        capture_output=True,
        text=True,
        check=False,
    )


def run_certs_step(data: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    """The compose `certs` service: the image's script, as root, with the compose file's owner."""
    return subprocess.run(
        ["sh", str(CERTS_INIT)],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "EDGEFLEET_DATA_DIR": str(data),
            "EDGEFLEET_CA_DIR": str(ca),
            "EDGEFLEET_OWNER": f"{IMAGE_UID}:{IMAGE_UID}",
            "EDGEFLEET_CERT_HOSTS": "localhost 127.0.0.1",
        },
    )


def test_the_certs_step_leaves_files_the_orchestrator_user_can_read_and_serve_from(shared_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the certs step chowns as root, as in the container (CI runs as root)")
    data, ca = shared_dir / "data", shared_dir / "ca"
    data.mkdir(mode=0o755)  # a fresh volume: root's, as Docker creates an empty one
    first = run_certs_step(data, ca)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in SECRET_FILES:  # still secret: 0600, but the orchestrator's
        st = (data / "tls" / name).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (IMAGE_UID, IMAGE_UID, 0o600), name
    # the orchestrator's user reads every file it needs, and writes in its data directory
    for path in [*(data / "tls" / n for n in (*SECRET_FILES, "ca.crt", "server.crt")), ca / "ca.crt"]:
        read = as_image_user("cat", str(path))
        assert read.returncode == 0, f"{path}: {read.stderr}"
    assert as_image_user("touch", str(data / "written-by-the-orchestrator")).returncode == 0
    # and `edgefleet serve` starts as that user (this failed with PermissionError on ca.key)
    env = {**os.environ, "COLUMNS": "200", "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0"}
    setpriv = system_binary("setpriv")
    proc = subprocess.Popen(
        [
            *(setpriv, f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups"),
            *(str(BIN / "edgefleet"), "serve", "--data-dir", str(data)),
            *("--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        api = read_until(proc, LISTENING).group(2)
        # the image's HEALTHCHECK command: grpc.health.v1 over server TLS, with the CA the agents get
        health = subprocess.run(
            [sys.executable, str(HEALTHCHECK), "grpc", api, "--ca", str(ca / "ca.crt")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert health.returncode == 0, health.stderr
    finally:
        assert stop(proc) == 0
    # idempotent: a second run keeps the CA the devices trust, and the ownership
    before = (data / "tls/ca.crt").read_bytes()
    second = run_certs_step(data, ca)
    assert second.returncode == 0, second.stderr
    assert (data / "tls/ca.crt").read_bytes() == before == (ca / "ca.crt").read_bytes()
    assert (data / "tls/ca.key").stat().st_uid == IMAGE_UID


def test_healthcheck_reports_unhealthy_in_one_line(shared_dir: Path) -> None:
    closed = shared_dir / "nothing-listens"
    for argv in (
        ["grpc", "127.0.0.1:9", "--ca", str(closed)],  # no CA file yet (the certs step has not run)
        ["grpc", "127.0.0.1:9"],  # nothing listening
        ["http", "http://127.0.0.1:9/metrics"],
    ):
        proc = subprocess.run(
            [sys.executable, str(HEALTHCHECK), *argv], capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 1, argv
        assert proc.stderr.startswith("unhealthy: "), proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr


def test_healthcheck_http_answers_for_a_metrics_endpoint() -> None:
    address = serve_metrics(CollectorRegistry(), "127.0.0.1:0")
    proc = subprocess.run(
        [sys.executable, str(HEALTHCHECK), "http", f"http://{address}/metrics"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    system_binary("docker-compose")  # brings python3-docker, whose matcher builds compose's context
    script = (
        "import sys\n"
        "from docker.utils.build import exclude_paths\n"
        "patterns = [l.strip() for l in open(sys.argv[1] + '/.dockerignore') if l.strip() and l[0] != '#']\n"
        "print('\\n'.join(sorted(exclude_paths(sys.argv[1], patterns))))\n"
    )
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", script, str(REPO)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 and "No module named 'docker'" in proc.stderr:
        pytest.skip("python3-docker is missing (make system-deps installs docker-compose, which brings it)")
    assert proc.returncode == 0, proc.stderr
    context = proc.stdout.split()
    kept_out = (".venv/", ".git/", ".cache/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/", "build/")
    assert [f for f in context if f.startswith(kept_out) or f == ".git"] == []
    assert [f for f in context if "__pycache__" in f or f.endswith(".pyc") or ".egg-info" in f] == []
    # everything the Dockerfiles COPY is still in it
    for needed in (
        "pyproject.toml",
        "README.md",
        "deploy/docker/certs-init.sh",
        "deploy/docker/healthcheck.py",
    ):
        assert needed in context, needed
    for package in ("agent/", "core/", "orchestrator/", "protos/edgefleet/v1/"):
        assert any(f.startswith(package) for f in context), package
