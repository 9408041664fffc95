"""`edgefleet serve` raises its own open-file limit: each mTLS agent holds a connection, and a service
started with the common default soft limit of 1,024 failed at about 1,000 agents (EMFILE in accepts, TLS
handshakes and file reads). It takes the hard limit (systemd: LimitNOFILE=) at start."""

from __future__ import annotations

import resource
from pathlib import Path

import psutil
import pytest

from tests.helpers.processes import orchestrator

pytestmark = pytest.mark.e2e


def test_serve_raises_its_soft_open_file_limit_to_the_hard_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 1024:
        pytest.skip(f"the hard open-file limit here ({hard}) is unlimited or leaves nothing to raise")
    low = 1024
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))  # what the child inherits, as from systemd
    try:
        with orchestrator(tmp_path / "orch") as (proc, _):
            assert psutil.Process(proc.pid).rlimit(psutil.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
