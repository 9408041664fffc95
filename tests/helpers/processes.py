"""Real edgefleet processes for tests: started on port 0, address read from their output."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent
_LISTENING = re.compile(r"listening on (\S+:\d+)")


def read_until(proc: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float = 60.0) -> re.Match[str]:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = pattern.search(line)
        if match:
            return match
    proc.kill()
    raise AssertionError(f"no {pattern.pattern!r} in output: {''.join(seen)[-2000:]}")


@contextmanager
def orchestrator(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``edgefleet serve`` on a free port; stopped with SIGTERM (and must exit 0)."""
    env = {**os.environ, "COLUMNS": "200"}
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
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
