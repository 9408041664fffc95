"""`edgefleet rollout/rollback/unblock/events` against a real orchestrator: errors and exit codes."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.processes import Served
from tests.integration.conftest import cli


def test_rollout_commands_without_devices(server: Served, built: dict[str, Any]) -> None:
    code, _, err = cli(server, "rollout", "start", "digits", "-p", "rpi4")
    assert code == 3
    assert "no enrolled device matches the rollout's target" in err
    code, _, err = cli(server, "rollout", "start", "digits", "--waves", "0,0.5,zero")
    assert code == 2
    assert "--waves expects numbers" in err
    code, out, _ = cli(server, "rollout", "status", "--json")
    assert code == 0
    assert json.loads(out) == []
    code, _, err = cli(server, "rollout", "status", "ro-missing")
    assert code == 3
    code, _, err = cli(server, "rollout", "abort", "ro-missing")
    assert code == 3
    code, _, err = cli(server, "rollback", "digits", "-p", "rpi4", "--reason", "bad batch")
    assert code == 5
    assert "no device of profile 'rpi4' runs 'digits'" in err
    code, _, err = cli(server, "rollback", "digits", "-p", "rpi4", "--reason", " ")
    assert code == 2
    variant_id = built["variants"][0]["variant_id"]
    code, _, err = cli(server, "unblock", "digits", "-p", "rpi4", "--variant", variant_id)
    assert code == 3
    assert "is not blocked" in err
    code, out, _ = cli(server, "events", "--json")
    assert code == 0
    assert isinstance(json.loads(out), list)
