"""The systemd units, the agent's (issue 17 item 12) and the orchestrator's (issue 19), checked by systemd
itself: `systemd-analyze verify` (syntax, every directive known, the ExecStart program resolvable) and
`systemd-analyze security --offline` (exposure score <= 3.0; the agent's was 7.3). Plus what the units must
keep saying: the agent's runtime directory for the unix predict socket, metrics on loopback off
node_exporter's port, sensors through groups, and the udev rule that gives RAPL to a group rather than to
everyone (CVE-2020-8694); the orchestrator's open-file limit for 10,000 agents and its state directory."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.system import system_binary
from tests.integration.test_deploy_files import DEPLOY

UNIT = DEPLOY / "systemd/edgefleet-agent.service"
ORCHESTRATOR_UNIT = DEPLOY / "systemd/edgefleet.service"
UNITS = pytest.mark.parametrize("unit", [UNIT, ORCHESTRATOR_UNIT], ids=lambda p: p.name)
SYSTEM_UNITS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
MAX_EXPOSURE = 3.0


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@UNITS
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, unit: Path) -> None:
    analyze = system_binary("systemd-analyze")
    system_units = next((d for d in SYSTEM_UNITS if (d / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no systemd unit directory here (systemd-analyze verify needs sysinit.target)")
    # An image of the device's root: the system's units, this unit, and the program ExecStart names.
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    program = root / directives(unit.read_text())["ExecStart"][0].split()[0].lstrip("/")
    assert program.parent == root / "opt/edgefleet/bin"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    proc = subprocess.run(
        [analyze, "verify", f"--root={root}", "--man=no", unit.name],
        capture_output=True,
        text=True,
        check=False,
    )
    # verify exits 0 on unknown directives but warns: any output is a finding
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout + proc.stderr == ""


@UNITS
def test_systemd_analyze_security_rates_the_unit_at_most_3(unit: Path) -> None:
    analyze = system_binary("systemd-analyze")
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", proc.stdout)
    assert match is not None, proc.stdout[-2000:]
    assert float(match.group(1)) <= MAX_EXPOSURE, proc.stdout


def test_the_unit_keeps_its_promises() -> None:
    d = directives(UNIT.read_text())
    # unix:/run/edgefleet-agent/predict.sock (the example config) needs a writable /run/edgefleet-agent
    # under ProtectSystem=strict
    assert d["ProtectSystem"] == ["strict"]
    assert d["RuntimeDirectory"] == ["edgefleet-agent"]
    example = (DEPLOY / "examples/agent.toml").read_text()
    assert 'predict_listen = "unix:/run/edgefleet-agent/predict.sock"' in example
    # metrics on loopback, not on node_exporter's 9100
    assert "Environment=EDGEFLEET_AGENT_METRICS_LISTEN=127.0.0.1:9465" in [
        f"Environment={v}" for v in d["Environment"]
    ]
    assert not any("9100" in v for v in d["Environment"])
    # sensors through groups: RAPL (udev rule below) and the Pi PMIC's /dev/vcio (video)
    assert set(d["SupplementaryGroups"][0].split()) == {"edgefleet-energy", "video"}
    assert "/dev/vcio rw" in d["DeviceAllow"]
    assert d["LimitNOFILE"] == ["65536"]
    for key in (
        "ProtectKernelTunables",
        "ProtectKernelLogs",
        "ProtectClock",
        "ProtectHostname",
        "RestrictNamespaces",
        "LockPersonality",
        "RestrictRealtime",
        "NoNewPrivileges",
    ):
        assert d[key] == ["yes"], key
    assert "@system-service" in d["SystemCallFilter"]
    assert d["CapabilityBoundingSet"] == [""]
    assert d["UMask"] == ["0077"]
    # no world-readable RAPL advice left anywhere
    for path in (UNIT, DEPLOY / "udev/70-edgefleet-energy.rules"):
        assert "0444" not in path.read_text(), path


def test_the_orchestrator_unit_holds_10000_agents() -> None:
    """Issue 19: one file descriptor per mTLS agent; the README sends operators to this unit for it."""
    d = directives(ORCHESTRATOR_UNIT.read_text())
    assert int(d["LimitNOFILE"][0]) >= 10_000 + 1_000
    assert d["ExecStart"] == ["/opt/edgefleet/bin/edgefleet serve --config /etc/edgefleet/edgefleet.toml"]
    # its data (store, CA, artifacts) in its own state directory, which the example config names too
    assert d["StateDirectory"] == ["edgefleet"]
    assert "EDGEFLEET_DATA_DIR=/var/lib/edgefleet" in d["Environment"]
    assert 'data_dir = "/var/lib/edgefleet"' in (DEPLOY / "examples/edgefleet.toml").read_text()
    assert "EDGEFLEET_METRICS_LISTEN=127.0.0.1:9464" in d["Environment"]
    assert d["DynamicUser"] == ["yes"]
    assert d["CapabilityBoundingSet"] == [""]
    assert d["ProtectSystem"] == ["strict"]


def test_the_udev_rule_gives_rapl_to_a_group_only() -> None:
    rules = [
        line
        for line in (DEPLOY / "udev/70-edgefleet-energy.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(rules) == 1
    rule = rules[0]
    assert 'SUBSYSTEM=="powercap"' in rule
    assert 'RUN+="/bin/chgrp edgefleet-energy /sys%p/energy_uj"' in rule
    assert 'RUN+="/bin/chmod 0440 /sys%p/energy_uj"' in rule  # owner and group read, nobody else
    # the group exists where the unit is installed as documented
    sysusers = (DEPLOY / "systemd/edgefleet.sysusers.conf").read_text()
    assert "g edgefleet-energy - -" in sysusers
