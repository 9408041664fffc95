"""Real edgefleet processes for tests: the product's own harness (edgefleet.orchestrator.tools.harness),
as context managers that always stop what they started."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from edgefleet.orchestrator.tools.harness import BIN, Served, start_agent, start_orchestrator, stop


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


@contextmanager
def agent(
    served: Served, data_dir: Path, profile: str, token: str, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``edgefleet-agent run`` as its own process; its log goes to DATA_DIR.log."""
    proc = start_agent(served, data_dir, profile, token, *extra, log=data_dir.with_suffix(".log"))
    try:
        yield proc
    finally:
        stop(proc)


@contextmanager
def orchestrator(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, secure: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], Served]]:
    """``edgefleet serve`` on free ports; mTLS with a CA made by `edgefleet certs init` unless ``secure`` is
    False (--insecure, one port). Its log goes to DATA_DIR.log. Stopped with SIGTERM."""
    proc, served = start_orchestrator(
        data_dir, *extra, log=data_dir.with_suffix(".log"), env=env, secure=secure
    )
    try:
        yield proc, served
    finally:
        stop(proc)


def served_of(server: Any) -> Served:
    """An in-process OrchestratorServer, seen the way agent processes see it."""
    return Served(server.address, server.api_address, server.config.data_dir, server.tls is not None)


def api_channel(served: Served) -> grpc.Channel:
    if not served.secure:
        return grpc.insecure_channel(served.api)
    return grpc.secure_channel(served.api, grpc.ssl_channel_credentials(served.ca.read_bytes()))


__all__ = [
    "BIN",
    "Served",
    "agent",
    "api_channel",
    "orchestrator",
    "read_until",
    "served_of",
    "stop",
    "wait_until",
]


def wait_until(fn: Callable[[], Any], what: str = "condition", timeout: float = 120.0) -> Any:
    """Poll ``fn`` (blocking: for tests that drive processes) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
