"""`edgefleet serve` and its ports, as real processes (issue 17 items 1, 2 and 6).

- A port in use, by another `edgefleet serve` (gRPC would share it: SO_REUSEPORT) or by any other program,
  refuses the start with one line and exit 8, the store untouched.
- `--metrics-listen` (flag, EDGEFLEET_METRICS_LISTEN, `[server] metrics_listen`): port 0 allowed, the bound
  address printed and written to DATA_DIR/metrics.addr; a metrics port in use is the same one line.
- SIGTERM releases the ports at once: a new `serve` started right after binds them all, while the old one
  still had an agent's stream, and the agent reconnects to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgefleet.orchestrator.tools.harness import wait_for_line
from tests.helpers.processes import BIN, Served, agent, orchestrator, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IN_USE = re.compile(r"^error \(unavailable\): (127\.0\.0\.1:\d+) is in use$")
ENV = {**os.environ, "COLUMNS": "60"}  # narrow on purpose: the error must not wrap


@pytest.fixture
def held_port() -> Iterator[str]:
    """A port another (non-gRPC) program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield f"127.0.0.1:{holder.getsockname()[1]}"


def serve_refused(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `edgefleet serve ...` expecting a refusal: exit 8, stderr exactly one line; returns it."""
    proc = subprocess.run(
        [str(BIN / "edgefleet"), "serve", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**ENV, **(env or {})},
    )
    assert proc.returncode == 8, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.stdout == ""
    return lines[0]


def insecure(listen: str = "127.0.0.1:0", metrics: str = "127.0.0.1:0") -> tuple[str, ...]:
    return ("--insecure", "--api-listen", "", "--listen", listen, "--metrics-listen", metrics)


def test_a_second_serve_on_the_ports_of_a_running_one_is_refused(tmp_path: Path) -> None:
    with orchestrator(tmp_path / "first") as (_, served):
        metrics = (served.data_dir / "metrics.addr").read_text().strip()
        for args in (
            insecure(listen=served.agents),
            insecure(listen=served.api),
            insecure(metrics=metrics),
        ):
            line = serve_refused(tmp_path / "second", *args)
            match = IN_USE.match(line)
            assert match is not None, line
            assert match.group(1) in (served.agents, served.api, metrics)
        # nothing of the second was created, and the first still answers
        assert not (tmp_path / "second" / "edgefleet.sqlite").exists()
        listed = subprocess.run(
            [str(BIN / "edgefleet"), "devices", "list", "--json"],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
            env={**os.environ, **served.env()},
        )
        assert json.loads(listed.stdout) == []


def test_a_port_held_by_another_program_is_one_line(tmp_path: Path, held_port: str) -> None:
    line = serve_refused(tmp_path / "d", *insecure(listen=held_port))
    assert line == f"error (unavailable): {held_port} is in use"
    line = serve_refused(tmp_path / "d", *insecure(metrics=held_port))
    assert line == f"error (unavailable): {held_port} is in use"


def test_metrics_port_from_the_environment_and_the_config_file(tmp_path: Path, held_port: str) -> None:
    args = ("--insecure", "--api-listen", "", "--listen", "127.0.0.1:0")
    env_line = serve_refused(tmp_path / "d", *args, env={"EDGEFLEET_METRICS_LISTEN": held_port})
    assert env_line == f"error (unavailable): {held_port} is in use"
    config = tmp_path / "server.toml"
    config.write_text(f'[server]\nmetrics_listen = "{held_port}"\n')
    file_line = serve_refused(tmp_path / "d", *args, "--config", str(config))
    assert file_line == f"error (unavailable): {held_port} is in use"


def test_metrics_listen_port_zero_is_printed_and_written(tmp_path: Path) -> None:
    with orchestrator(tmp_path / "o", "--metrics-listen", "127.0.0.1:0") as (_, served):
        log = (tmp_path / "o.log").read_text()
        printed = re.search(r"metrics on http://(127\.0\.0\.1:\d+)/metrics; data:", log)
        assert printed is not None, log
        assert (served.data_dir / "metrics.addr").read_text().strip() == printed.group(1)
        assert not printed.group(1).endswith(":0")
        body = urllib.request.urlopen(f"http://{printed.group(1)}/metrics", timeout=30).read().decode()
        assert "edgefleet_" in body


def _devices(served: Served) -> list[dict[str, object]]:
    out = subprocess.run(
        [str(BIN / "edgefleet"), "devices", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, **served.env()},
    )
    devices: list[dict[str, object]] = json.loads(out.stdout)
    return devices


def test_a_restart_right_after_sigterm_binds_every_port_and_the_agent_comes_back(tmp_path: Path) -> None:
    """The old process still holds an agent's stream when it gets SIGTERM; the new one is started as soon as
    the old one says it is shutting down, on the same agents', API and metrics ports and data."""
    env = {"EDGEFLEET_HEARTBEAT_SECONDS": "1", "EDGEFLEET_BOOTSTRAP_TOKEN": "restart-test-token-0123"}
    data = tmp_path / "orch"
    log = tmp_path / "orch.log"
    with orchestrator(data, env=env) as (first, served):
        metrics = (data / "metrics.addr").read_text().strip()
        with agent(served, tmp_path / "rpi4", "rpi4", "restart-test-token-0123"):
            wait_until_online(served)
            offset = log.stat().st_size
            first.send_signal(signal.SIGTERM)
            wait_for_line(first, log, re.compile("shutting down"), offset=offset)
            restarted = subprocess.Popen(
                [
                    str(BIN / "edgefleet"),
                    "serve",
                    *("--listen", served.agents, "--api-listen", served.api),
                    *("--metrics-listen", metrics, "--data-dir", str(data)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**ENV, **env},
            )
            try:
                assert first.wait(timeout=120) == 0
                ready = read_until(
                    restarted, re.compile(r"listening on (\S+) .*metrics on http://(\S+)/metrics")
                )
                assert ready.group(1) == served.agents
                assert ready.group(2) == metrics
                again = Served(served.agents, served.api, data, served.secure)
                wait_until_online(again)
            finally:
                restarted.terminate()
                assert restarted.wait(timeout=120) == 0


def wait_until_online(served: Served, attempts: int = 240) -> None:
    for _ in range(attempts):
        if any(d.get("status") == "online" for d in _devices(served)):
            return
        time.sleep(0.5)
    raise AssertionError(f"no device online at {served.api}: {_devices(served)}")
