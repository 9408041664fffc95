"""The orchestrator under load in CI: 300 simulated mTLS agents, a deploy to all and a rollout in waves.
Every health check answers, every agent gets the deploy and the rollout, nothing errs, telemetry is stored
in full. (The scaling curve up to 10,000 agents is in the benchmark, `make bench`.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.load import run_fleet_load

pytestmark = pytest.mark.slow


def test_three_hundred_agents_and_a_rollout(tmp_path: Path) -> None:
    run = run_fleet_load(tmp_path, agents=300, duration_s=6.0, window_s=1.0, timeout_s=600.0)
    assert run.report.failures() == []
    assert run.report.errors == []
    assert [(d.name, d.reached) for d in run.report.deployments] == [("deploy", 300), ("rollout", 300)]
    assert run.health_failures == []
    assert len(run.health_s) > 10
    # an acknowledgement means stored (simulated agents keep no outbox: a window refused with back-pressure
    # advice is not resent, so how many get stored depends on the machine's load, not on correctness)
    r = run.report
    assert run.windows_stored >= r.windows_acked - r.agents  # less each session's opening ack
    # the agents stop sending, then wait for the answers to what is in flight: every window is accounted for
    assert r.windows_unanswered == 0
    answered = r.windows_acked - (r.agents + r.reconnects) + r.backpressure_advice  # less the opening acks
    if r.reconnects == 0:  # (a window sent on a stream that then failed is never answered)
        assert answered == r.windows_sent
