"""Real edgefleet processes on this machine: an orchestrator (`edgefleet serve` on free ports, mTLS by
default) and agents (`edgefleet-agent run`), each logging to a file. The demo runs the product with it and
the tests run the same processes the same way."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgefleet.core.errors import FailedPrecondition

__all__ = ["BIN", "Processes", "Served", "start_agent", "start_orchestrator", "stop", "wait_for_line"]

#: The console scripts installed beside this Python.
BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on (\S+:\d+) .*API on (\S+:\d+)")


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

    def admin_token(self) -> str:
        path = self.data_dir / "tls" / "admin.token"
        return path.read_text().strip() if self.secure else ""

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


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_for_line(
    proc: subprocess.Popen[bytes],
    log: Path,
    pattern: re.Pattern[str],
    *,
    offset: int = 0,
    timeout: float = 60.0,
) -> re.Match[str]:
    """Poll the process's log from byte ``offset`` (where this process began writing) until a line matches;
    a process that exits first, or silence, is an error that shows the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        match = pattern.search(text)
        if match:
            return match
        if proc.poll() is not None or time.monotonic() > deadline:
            why = (
                f"exited with {proc.returncode}" if proc.poll() is not None else f"silent for {timeout:.0f} s"
            )
            raise FailedPrecondition(
                f"{log.stem} {why} before {pattern.pattern!r}; log {log}:\n{text[-2000:]}"
            )
        time.sleep(0.05)


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def start_orchestrator(
    data_dir: Path,
    *extra: str,
    log: Path,
    env: dict[str, str] | None = None,
    secure: bool = True,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> tuple[subprocess.Popen[bytes], Served]:
    """``edgefleet certs init`` (once), then ``edgefleet serve`` on free ports; waits until it listens."""
    env = {"COLUMNS": "200", "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0", **(env or {})}
    if secure and not (data_dir / "tls" / "ca.key").exists():
        hostnames = [a for h in hosts for a in ("--host", h)]
        subprocess.run(
            [str(BIN / "edgefleet"), "certs", "init", "--data-dir", str(data_dir), *hostnames],
            check=True,
            capture_output=True,
            env={**os.environ, **env},
        )
    mode = ["--api-listen", "127.0.0.1:0"] if secure else ["--insecure", "--api-listen", ""]
    argv = [str(BIN / "edgefleet"), "serve", "--listen", "127.0.0.1:0", *mode, "--data-dir", str(data_dir)]
    offset = log.stat().st_size if log.exists() else 0
    proc = _spawn([*argv, *extra], log, env)
    try:
        match = wait_for_line(proc, log, _LISTENING, offset=offset)
    except BaseException:
        stop(proc)
        raise
    return proc, Served(match.group(1), match.group(2), data_dir, secure)


def start_agent(
    served: Served, data_dir: Path, profile: str, token: str, *extra: str, log: Path
) -> subprocess.Popen[bytes]:
    return _spawn(served.agent_command(data_dir, profile, token, *extra), log)


class Processes:
    """Processes started together and stopped together (agents first, then the orchestrator)."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def add(self, name: str, proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.procs[name] = proc
        return proc

    def alive(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items() if p.poll() is None}

    def stop(self) -> None:
        for name in [n for n in self.procs if n != "orchestrator"] + ["orchestrator"]:
            proc = self.procs.get(name)
            if proc is not None:
                stop(proc)
