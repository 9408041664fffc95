"""The alert rules' behaviour, by promtool's rule unit tests (deploy/prometheus/alerts.test.yml: input
series, expected alerts with their labels and rendered annotations), and what every rule must carry: a
description and a runbook link to its own section of docs/runbooks.md (issue 17 item 13)."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.conftest import REPO
from tests.helpers.system import system_binary
from tests.integration.test_deploy_files import DEPLOY, alert_rules

RUNBOOKS = REPO / "docs/runbooks.md"


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = system_binary("promtool")
    proc = subprocess.run(
        [promtool, "test", "rules", "alerts.test.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((DEPLOY / "prometheus/alerts.test.yml").read_text())["tests"]
    cases = [case for t in tests for case in t.get("alert_rule_test", [])]
    for rule in alert_rules():
        name = rule["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{name}: no case where it stays quiet"


def test_every_alert_has_a_description_and_its_own_runbook_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9-]", "", line[3:].strip().lower().replace(" ", "-"))
        for line in RUNBOOKS.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in alert_rules():
        name = rule["alert"]
        annotations = rule["annotations"]
        assert len(annotations["description"]) > 80, name
        assert annotations["summary"], name
        url = annotations["runbook_url"]
        assert url == f"docs/runbooks.md#{name.lower()}", name
        assert name.lower() in anchors, f"docs/runbooks.md has no section '## {name}'"
        assert rule["labels"]["severity"] in ("warning", "critical"), name
    assert len(anchors) == len(alert_rules())  # one section per alert, no stale ones
