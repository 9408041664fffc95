"""No telemetry is lost: SIGKILL the agent with windows pending, cut the orchestrator, restart both."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers.fleet import orchestrator_in_process, push_desired, wait_for
from tests.helpers.processes import served_of

pytestmark = pytest.mark.slow


def outbox_last_seq(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "outbox.sqlite") as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
    return int(row[0]) if row else 0


def outbox_pending(data_dir: Path) -> set[int]:
    with sqlite3.connect(data_dir / "outbox.sqlite") as db:
        return {int(r[0]) for r in db.execute("SELECT seq FROM windows")}


def outbox_backlog(data_dir: Path) -> int:
    return len(outbox_pending(data_dir))


def start_agent(server: OrchestratorServer, data_dir: Path, token: str) -> subprocess.Popen[str]:
    log = (data_dir.parent / "agent.log").open("a")
    return subprocess.Popen(
        served_of(server).agent_command(data_dir, "rpi4", token, "--replay", "100"),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "EDGEFLEET_AGENT_WINDOW_SECONDS": "0.3"},
    )


async def test_every_window_arrives_exactly_once(template: Path, tmp_path: Path) -> None:
    agent_dir = tmp_path / "agent"
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.3) as server:
        address = server.address
        token = server.services.identity.create_token()[0]
        agent = start_agent(server, agent_dir, token)
        try:
            await wait_for(lambda: bool(server.services.devices.list_devices()), what="enrolment")
            device_id = server.services.devices.list_devices()[0].device_id
            await wait_for(lambda: device_id in server.sessions.connected(), what="stream")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, a)
            await wait_for(lambda: server.services.store.count_windows(device_id) >= 5, what="first windows")
        except BaseException:
            agent.kill()
            raise
    # the orchestrator is gone: windows pile up in the agent's outbox
    await wait_for(lambda: outbox_backlog(agent_dir) >= 8, what="a backlog", timeout=30)
    agent.send_signal(signal.SIGKILL)  # with windows pending
    agent.wait(timeout=10)
    killed_at = outbox_last_seq(agent_dir)
    assert outbox_backlog(agent_dir) >= 8
    await asyncio.sleep(0.5)
    async with orchestrator_in_process(template, tmp_path, window_seconds=0.3, listen=address) as server:
        agent = start_agent(server, agent_dir, token)  # identity is kept: the token is not needed again
        try:
            await wait_for(
                lambda: outbox_last_seq(agent_dir) > killed_at + 3,
                what="new windows after restart",
                timeout=30,
            )
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=20) == 0
            last = outbox_last_seq(agent_dir)
            # what the agent did not get acknowledged before it stopped is still in its outbox
            pending = outbox_pending(agent_dir)
            stored = sorted(w.seq for w in server.services.store.windows(device_id=device_id))
        finally:
            if agent.poll() is None:
                agent.kill()
    assert len(stored) == len(set(stored))  # exactly once: (device, sequence) is the key
    assert stored == list(range(1, len(stored) + 1))  # in order, no gap
    # every window the agent made is stored, or still in its outbox for the next start (or both, when
    # the acknowledgement was in flight at the stop: the store keeps it once all the same)
    assert set(stored) | pending == set(range(1, last + 1))
    assert len(stored) > killed_at  # everything made before the kill arrived
