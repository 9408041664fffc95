"""The README's main command in short mode: the whole product, and the rollback it must show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_demo_rolls_out_and_rolls_back_with_a_recorded_reason(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("edgefleet")
    proc = subprocess.run(
        [str(exe), "demo", "--short", "--json", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert set(result["plan"]) == {"rpi4", "phone", "mcu-gateway"}
    assert result["rollout"] == "succeeded"
    assert result["tightened"] == "rolled_back"
    event = result["rollback_event"]
    assert event["rule"] == "energy.t_lcb_above_budget"
    assert event["statistics"]["lcb"] > event["statistics"]["budget"]
    assert event["device"].startswith("rpi4-")
    assert "automatic rollback" in proc.stderr
    logs = tmp_path / "demo" / "logs"
    assert {p.name for p in logs.iterdir()} >= {
        "orchestrator.log",
        "agent-rpi4.log",
        "agent-phone.log",
        "agent-mcu-gateway.log",
    }
