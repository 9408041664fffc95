"""Real edgefleet processes for tests: started on port 0, address read from their output."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on (\S+:\d+) .*API on (\S+:\d+)")


def read_until(proc: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
    """Read the process's output line by line (on a thread: select() cannot see lines already
    buffered by readline) until ``pattern`` matches."""
    assert proc.stdout is not None
    stream = proc.stdout
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def pump() -> None:
        for line in iter(stream.readline, ""):
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if not line:
            break
        seen.append(line)
        match = pattern.search(line)
        if match:
            return match
    proc.kill()
    raise AssertionError(f"no {pattern.pattern!r} in output: {''.join(seen)[-2000:]}")


def stop(proc: subprocess.Popen[str], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass(frozen=True)
class Served:
    """An ``edgefleet serve`` process's ports and data directory, and how clients reach it."""

    agents: str
    api: str
    data_dir: Path
    secure: bool

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    def env(self) -> dict[str, str]:
        """For the CLI: the API address and where its CA and admin token are."""
        env = {"EDGEFLEET_SERVER": self.api, "EDGEFLEET_DATA_DIR": str(self.data_dir)}
        return env if self.secure else {**env, "EDGEFLEET_INSECURE": "1"}

    @classmethod
    def of(cls, server: Any) -> Served:
        """An in-process OrchestratorServer, seen the way agent processes see it."""
        return cls(server.address, server.api_address, server.config.data_dir, server.tls is not None)

    def agent_command(
        self, data_dir: Path, profile: str, token: str, *extra: str, orchestrator: str = ""
    ) -> list[str]:
        """``edgefleet-agent run`` for this orchestrator (``orchestrator``: dial that instead, a proxy)."""
        target = ["--orchestrator", orchestrator or self.agents]
        tls = ["--enroll-address", self.api, "--ca", str(self.ca)] if self.secure else ["--insecure"]
        return [
            str(BIN / "edgefleet-agent"),
            "run",
            *target,
            *tls,
            *("--profile", profile, "--data-dir", str(data_dir), "--token", token),
            *extra,
        ]

    def api_channel(self) -> grpc.Channel:
        if not self.secure:
            return grpc.insecure_channel(self.api)
        return grpc.secure_channel(self.api, grpc.ssl_channel_credentials(self.ca.read_bytes()))

    def admin_token(self) -> str:
        path = self.data_dir / "tls" / "admin.token"
        return path.read_text().strip() if self.secure else ""


@contextmanager
def agent(
    served: Served, data_dir: Path, profile: str, token: str, *extra: str
) -> Iterator[subprocess.Popen[str]]:
    """``edgefleet-agent run`` as its own process; its log goes to DATA_DIR.log."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = data_dir.with_suffix(".log").open("w")
    proc = subprocess.Popen(
        served.agent_command(data_dir, profile, token, *extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


@contextmanager
def orchestrator(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, secure: bool = True
) -> Iterator[tuple[subprocess.Popen[str], Served]]:
    """``edgefleet serve`` on free ports; mTLS with a CA made by `edgefleet certs init` unless ``secure`` is
    False (--insecure, one port). Stopped with SIGTERM (and must exit 0)."""
    env = {**os.environ, "COLUMNS": "200", "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0", **(env or {})}
    if secure and not (data_dir / "tls" / "ca.key").exists():
        subprocess.run(
            [str(BIN / "edgefleet"), "certs", "init", "--data-dir", str(data_dir), "--host", "127.0.0.1"],
            check=True,
            capture_output=True,
            env=env,
        )
    mode = ["--api-listen", "127.0.0.1:0"] if secure else ["--insecure", "--api-listen", ""]
    proc = subprocess.Popen(
        [
            str(BIN / "edgefleet"),
            "serve",
            "--listen",
            "127.0.0.1:0",
            *mode,
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        match = read_until(proc, _LISTENING)
        yield proc, Served(match.group(1), match.group(2), data_dir, secure)
    finally:
        stop(proc)
