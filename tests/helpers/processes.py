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
from pathlib import Path

BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on (\S+:\d+)")


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


@contextmanager
def agent(
    address: str, data_dir: Path, profile: str, token: str, *extra: str
) -> Iterator[subprocess.Popen[str]]:
    """``edgefleet-agent run`` as its own process; its log goes to DATA_DIR.log."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log = data_dir.with_suffix(".log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "edgefleet-agent"),
            "run",
            "--orchestrator",
            address,
            "--profile",
            profile,
            "--data-dir",
            str(data_dir),
            "--token",
            token,
            *extra,
        ],
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
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``edgefleet serve`` on a free port; stopped with SIGTERM (and must exit 0)."""
    env = {**os.environ, "COLUMNS": "200", "EDGEFLEET_METRICS_LISTEN": "127.0.0.1:0", **(env or {})}
    proc = subprocess.Popen(
        [str(BIN / "edgefleet"), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        address = read_until(proc, _LISTENING).group(1)
        yield proc, address
    finally:
        stop(proc)
