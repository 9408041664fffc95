"""The orchestrator's start and stop (issue 17 items 1, 2, 6): real grpc.aio servers, a real agent.

- ``stop()`` releases every port, the metrics endpoint's too (prometheus_client's thread kept it until the
  process exited), so a successor binds the same addresses at once; the agents' streams are ended with the
  reason at once (not cut when a grace period runs out) and the agent reconnects to the successor.
- A start that cannot bind one of its ports fails with one error naming it and leaves nothing bound.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from edgefleet.core.errors import Unavailable
from edgefleet.core.ports import check_free
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.server.app import OrchestratorServer, open_services
from tests.helpers.fleet import agent_config, agent_in_process, orchestrator_in_process, wait_for


def _config(data: Path, **kw: str) -> ServerConfig:
    base = {"listen": "127.0.0.1:0", "api_listen": "", "metrics_listen": "127.0.0.1:0"}
    return ServerConfig(data_dir=data, insecure=True, heartbeat_seconds=0.5, **{**base, **kw})  # type: ignore[arg-type]


async def test_stop_releases_every_port_and_the_agent_moves_to_the_successor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "empty").mkdir()
    caplog.set_level(logging.INFO)
    async with orchestrator_in_process(tmp_path / "empty", tmp_path, secure=False) as first:
        token = first.services.identity.create_token(uses=2)[0]
        cfg = agent_config(first, tmp_path / "agent", "rpi4", token)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="the first stream")
            agents_port, metrics_port = first.address, first.metrics_address
            await first.stop()
            for listen in (agents_port, metrics_port):
                check_free(listen)  # nothing holds them any more
            again = _config(first.config.data_dir, listen=agents_port, metrics_listen=metrics_port)
            successor = OrchestratorServer(again, open_services(again))
            await successor.start()
            try:
                assert (successor.address, successor.metrics_address) == (agents_port, metrics_port)
                await wait_for(lambda: len(successor.sessions) == 1, what="the agent on the successor")
            finally:
                await successor.stop()
    ended = [r.getMessage() for r in caplog.records if "ended: UNAVAILABLE" in r.getMessage()]
    assert any("the orchestrator is shutting down" in m for m in ended), ended


@pytest.mark.parametrize("which", ["listen", "api_listen", "metrics_listen"])
async def test_a_port_in_use_fails_the_start_and_nothing_stays_bound(tmp_path: Path, which: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        ports = {name: _free_port() for name in ("listen", "api_listen", "metrics_listen")}
        config = _config(tmp_path / "d", **{**ports, which: taken})
        server = OrchestratorServer(config, open_services(config))
        with pytest.raises(Unavailable, match=rf"^{taken} is in use$"):
            await server.start()
        for name, listen in ports.items():
            if name != which:
                check_free(listen)  # whatever it had bound was released


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def test_a_bind_failing_after_another_port_was_bound_releases_that_port(tmp_path: Path) -> None:
    """The same address for agents and API passes the first check; the second gRPC bind fails (no
    SO_REUSEPORT), and the agents' port, bound already, is released."""
    same = _free_port()
    config = _config(tmp_path / "d", listen=same, api_listen=same)
    server = OrchestratorServer(config, open_services(config))
    with pytest.raises(Unavailable, match=rf"^{same} is in use$"):
        await server.start()
    check_free(same)
