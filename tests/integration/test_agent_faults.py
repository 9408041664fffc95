"""Whose fault a failed deployment is, as the agent sees it (real orchestrator, real gRPC, real slots):
device faults are retried by the agent itself and never spend the generation, variant faults are final;
an unexpected error never ends the daemon; labels reach the orchestrator at enrolment."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgefleet.agent.cli import app as agent_app
from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.orchestrator.fleet.model import BundleRecord
from edgefleet.orchestrator.server.app import OrchestratorServer
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    agent_metric,
    committed,
    orchestrator_in_process,
    push_desired,
    variant_id,
    wait_for,
)

pytestmark = pytest.mark.slow


def outcomes(agent: Any, outcome: str, fault: str) -> float:
    return agent_metric(agent, "edgefleet_agent_deployment_outcomes_total", outcome=outcome, fault=fault)


def phase(server: OrchestratorServer, device_id: str) -> tuple[str, str]:
    d = server.services.devices.get(device_id)
    return d.phase, d.phase_reason


async def test_a_device_fault_is_retried_by_the_agent_for_the_same_generation(
    template: Path, tmp_path: Path
) -> None:
    """A full disk during the download (a real ENOSPC: the partial file is /dev/full): reported FAILED with
    fault DEVICE, then retried by the agent itself, without a new deploy, until it commits."""
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        cfg = dataclasses.replace(cfg, deploy_retry_initial_seconds=1.0, deploy_retry_max_seconds=2.0)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            old, new = variant_id(server, "w0.5", "fp32"), variant_id(server, "w1.0", "fp32")
            [a] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=old)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, old), what="old variant")
            [b] = server.services.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=new)
            assert b.desired is not None
            (cfg.data_dir / "downloads" / f"{b.desired.bundle_sha256}.part").symlink_to("/dev/full")
            push_desired(server, b)
            await wait_for(lambda: outcomes(agent, "failed", "device") >= 1, what="the device fault")
            assert committed(agent, old)  # the old variant serves meanwhile
            # no new deploy: the agent tries the same generation again by itself
            await wait_for(lambda: committed(agent, new), what="the retry committed", timeout=30)
            await wait_for(lambda: phase(server, b.device_id)[0] == "committed", what="reported")
            assert agent.slots.applied_generation == b.desired.generation
            assert outcomes(agent, "committed", "") >= 2
            assert outcomes(agent, "failed", "variant") == 0


async def test_a_trial_cut_short_is_reported_at_the_next_start_and_retried(
    template: Path, tmp_path: Path
) -> None:
    """The agent stops during a trial (power loss, SIGKILL: the trial is found at the next start): it goes
    back to the previous slot, reports ROLLED_BACK (fault DEVICE) for that generation once the stream is
    up, and retries the generation later by itself."""
    async with orchestrator_in_process(template, tmp_path) as server:
        s = server.services
        first, second = variant_id(server, "w1.0", "fp32"), variant_id(server, "w1.0", "static_wi8_ai8")
        cfg = agent_config(server, tmp_path / "a", "rpi4", s.identity.create_token()[0])
        cfg = dataclasses.replace(cfg, deploy_retry_initial_seconds=3.0)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            [a] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=first)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, first), what="first commit")
            # the second stays on trial while the agent stops
            [b] = s.deployments.deploy(
                model="digits", profiles=["rpi4"], variant_id=second, trial_seconds=60.0
            )
            push_desired(server, b)
            await wait_for(lambda: phase(server, b.device_id)[0] == "trial", what="second on trial")
        async with agent_in_process(cfg) as again:
            assert committed(again, first)  # back on the previous slot before any stream
            assert outcomes(again, "rolled_back", "device") == 1
            await wait_for(
                lambda: phase(server, b.device_id)[0] == "rolled_back",
                what="the outcome reported",
                timeout=10,
            )
            assert "stopped during the trial" in phase(server, b.device_id)[1]
            # the generation is not spent: the agent installs it again by itself
            await wait_for(
                lambda: (
                    again.slots.active is not None
                    and again.slots.active.variant is not None
                    and again.slots.active.variant.variant_id == second
                ),
                what="the retry on trial",
                timeout=30,
            )
            assert server.services.devices.get(b.device_id).desired.generation == b.desired.generation  # type: ignore[union-attr]


async def test_a_variant_fault_is_final_for_its_generation(template: Path, tmp_path: Path) -> None:
    """A variant whose self-test disagrees (a signed bundle whose expectations the model does not meet):
    FAILED with fault VARIANT, and never retried for that generation, however short the retry period."""
    async with orchestrator_in_process(template, tmp_path) as server:
        s = server.services
        broken = variant_id(server, "w0.5", "fp32")
        samples = s.variants.scoring_set("digits")
        manifest = Manifest(
            broken, "digits", "fp32", "w0.5", samples.labels, tuple((int(y) + 1) % 10 for y in samples.y), 0.9
        )
        data = write_bundle(manifest, s.artifacts.read(broken), samples)
        digest = s.artifacts.put(data)
        s.store.put_bundle(
            BundleRecord(broken, digest, len(data), s.signer.sign_digest(digest), s.signer.public.key_id)
        )
        cfg = agent_config(server, tmp_path / "a", "rpi4", s.identity.create_token()[0])
        cfg = dataclasses.replace(cfg, deploy_retry_initial_seconds=0.2, deploy_retry_max_seconds=0.2)
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            [a] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=broken)
            push_desired(server, a)
            await wait_for(lambda: outcomes(agent, "failed", "variant") >= 1, what="the variant fault")
            await asyncio.sleep(1.0)  # five retry periods of a device fault
            assert outcomes(agent, "failed", "variant") == 1
            assert outcomes(agent, "failed", "device") == 0
            assert phase(server, a.device_id)[0] == "failed"
            assert "self-test failed" in phase(server, a.device_id)[1]
            assert agent.slots.applied_generation == a.desired.generation  # type: ignore[union-attr]


async def test_an_unexpected_error_never_ends_the_daemon(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first Hellos fail with an error that is neither an RPC nor an edgefleet error (injected into the
    hardware read): the agent logs it once with its traceback, backs off, reconnects and carries on."""
    import edgefleet.agent.facts as facts_module

    real = facts_module.read_hardware
    calls = {"n": 0}

    def flaky(data_dir: Path) -> Any:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RuntimeError("injected: the device tree vanished")
        return real(data_dir)

    monkeypatch.setattr(facts_module, "read_hardware", flaky)
    caplog.set_level(logging.ERROR, logger="edgefleet.agent")
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "a", "rpi4", server.services.identity.create_token()[0])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="the stream after the failures", timeout=30)
            assert agent.reconnects >= 3
    tracebacks = [r for r in caplog.records if r.exc_info and "injected" in str(r.exc_info[1])]
    assert len(tracebacks) == 1
    assert sum("failed again" in r.getMessage() for r in caplog.records) == 2


async def test_labels_are_sent_at_enrolment(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(
            server,
            tmp_path / "a",
            "rpi4",
            server.services.identity.create_token()[0],
            labels=(("rack", "3"), ("site", "berlin")),
        )
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            assert agent.identity is not None
            device = server.services.devices.get(agent.identity.device_id)
            assert device.labels == {"site": "berlin", "rack": "3"}


def test_a_bad_label_flag_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        agent_app,
        [
            "run",
            "--profile",
            "rpi4",
            "--data-dir",
            str(tmp_path),
            "--label",
            "site=berlin",
            "--label",
            "Rack=3",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--label: invalid label key 'Rack'" in result.output
    assert "Traceback" not in result.output
