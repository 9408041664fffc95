"""Orchestrator and agents over real gRPC: enrol, connect, deploy, download, verify, activate, serve."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from edgefleet.agent.runtime import load_model
from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.fleet.model import BundleRecord
from edgefleet.orchestrator.server.app import OrchestratorServer, open_services
from tests.helpers.fleet import (
    admin_client,
    agent_config,
    agent_in_process,
    committed,
    orchestrator_in_process,
    predict,
    push_desired,
    wait_for,
)


def token(server: OrchestratorServer, uses: int = 5) -> str:
    return server.services.identity.create_token(uses=uses)[0]


def variant(server: OrchestratorServer, base: str, recipe: str) -> Any:
    return next(
        c
        for c in server.services.variants.list_variants("digits")
        if (c.base_name, c.recipe) == (base, recipe)
    )


async def test_enrol_connect_deploy_and_predict(template: Path, tmp_path: Path, evalset: EvalSet) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "agent", "rpi4", token(server))
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            device = server.services.devices.get(agent.identity.device_id)  # type: ignore[union-attr]
            assert device.report is not None
            assert device.report.runtime_name == "ai-edge-litert"
            assert device.report.hardware["cpu_count"] >= 1
            [assignment] = server.services.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, assignment)  # what the admin RPC does after calling the service
            await wait_for(lambda: committed(agent, assignment.desired.variant_id), what="commit")
            await wait_for(
                lambda: server.services.devices.get(assignment.device_id).phase == "committed",
                what="reported commit",
            )

            host = load_model(server.services.variants.artifact(assignment.desired.variant_id))
            x = evalset.x[:20]
            replies = [await predict(agent, x[i : i + 1]) for i in range(20)]
            classes = [r.classes[0] for r in replies]
            assert classes == host.classify(x).tolist()
            assert np.mean(np.array(classes) == evalset.y[:20]) >= 0.85
            assert replies[0].variant.variant_id == assignment.desired.variant_id
            assert replies[0].labels[0] == str(classes[0])


async def test_admin_deploy_is_level_triggered_and_idempotent(template: Path, tmp_path: Path) -> None:

    async with (
        orchestrator_in_process(template, tmp_path) as server,
        agent_in_process(agent_config(server, tmp_path / "a", "phone", token(server))) as agent,
    ):
        await wait_for(agent.connected.is_set, what="connection")
        with admin_client(server) as api:
            first = await asyncio.to_thread(api.deploy, "digits", profiles=("phone",))
            again = await asyncio.to_thread(api.deploy, "digits", profiles=("phone",))
        assert [a[3] for a in first] == [1]
        # a new deploy is a new generation (issue 15 item 7), of the same variant: the agent already serves
        # it and only acknowledges it, nothing is reinstalled
        assert [(a[0], a[2], a[3]) for a in again] == [(first[0][0], first[0][2], 2)]
        await wait_for(lambda: committed(agent, first[0][2]), what="commit")
        await wait_for(lambda: agent.slots.applied_generation == 2, what="generation 2 acknowledged")
        installed = [s.since for s in agent.slots.slots()]
        generation = agent.slots.applied_generation
        # an orchestrator restart: the agent reconnects, the desired state is re-sent, nothing changes
        reconnects = agent.reconnects
        config = dataclasses.replace(server.config, listen=server.address)
        await server.stop(0.1)
        restarted = OrchestratorServer(config, open_services(config))
        await restarted.start()
        try:
            await wait_for(
                lambda: agent.reconnects > reconnects and agent.connected.is_set(), what="reconnect"
            )
            await asyncio.sleep(0.5)
            assert committed(agent, first[0][2])
            assert agent.slots.applied_generation == generation
            assert [s.since for s in agent.slots.slots()] == installed
        finally:
            await restarted.stop(0.1)


async def test_restart_keeps_the_active_variant(template: Path, tmp_path: Path, evalset: EvalSet) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        cfg = agent_config(server, tmp_path / "agent", "mcu-gateway", token(server))
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = server.services.deployments.deploy(model="digits", profiles=["mcu-gateway"])
            push_desired(server, a)
            await wait_for(lambda: committed(agent, a.desired.variant_id), what="commit")
            assert agent.engine.current is not None
            assert agent.engine.current.runtime.startswith("tflite-micro")
        # a new process of the agent (same data directory), before it reaches the orchestrator
        restarted = type(agent)(dataclasses.replace(cfg, orchestrator="127.0.0.1:1"))
        await restarted.start()
        try:
            assert restarted.engine.current is not None
            assert restarted.engine.current.variant.variant_id == a.desired.variant_id
            reply = await predict(restarted, evalset.x[:1])
            assert reply.variant.variant_id == a.desired.variant_id
        finally:
            await restarted.close()


async def test_corrupt_or_badly_signed_artifacts_are_refused(
    template: Path, tmp_path: Path, evalset: EvalSet
) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        deployments, devices, store = (
            server.services.deployments,
            server.services.devices,
            server.services.store,
        )
        async with agent_in_process(agent_config(server, tmp_path / "a", "rpi4", token(server))) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            good = variant(server, "w1.0", "fp32")
            [a] = deployments.deploy(model="digits", profiles=["rpi4"], variant_id=good.variant_id)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, good.variant_id), what="first commit")

            # 1. a corrupt artifact: the bytes on the orchestrator's disk no longer match the digest
            bad = variant(server, "w0.5", "fp32")
            bundle = server.services.bundles.ensure(bad.variant_id)
            path = server.services.artifacts.path(bundle.sha256)
            raw = bytearray(path.read_bytes())
            raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside the model
            path.write_bytes(bytes(raw))

            [b] = deployments.deploy(model="digits", profiles=["rpi4"], variant_id=bad.variant_id)
            push_desired(server, b)
            device_id = b.device_id
            await wait_for(lambda: devices.get(device_id).phase == "failed", what="refusal")
            assert "refused: SHA-256" in devices.get(device_id).phase_reason
            assert committed(agent, good.variant_id)
            assert (await predict(agent, evalset.x[:1])).variant.variant_id == good.variant_id

            # 1b. the refused variant again once its artifact is whole: a new deploy is a new generation, so
            # the device tries again and installs it (issue 15 item 7: it stayed failed for good before)
            raw[len(raw) // 2] ^= 0xFF
            path.write_bytes(bytes(raw))
            [again] = deployments.deploy(model="digits", profiles=["rpi4"], variant_id=bad.variant_id)
            assert again.desired.generation == b.desired.generation + 1
            push_desired(server, again)
            await wait_for(lambda: committed(agent, bad.variant_id), what="the retried variant committed")

            # 2. a correct artifact with a signature that does not verify
            other = variant(server, "w2.0", "fp32")
            signed = server.services.bundles.ensure(other.variant_id)
            device = store.get_device(device_id)
            assert device is not None
            [c] = deployments.deploy(model="digits", profiles=["rpi4"], variant_id=other.variant_id)
            forged = dataclasses.replace(c.desired, signature=bytes(64))
            store.put_device(dataclasses.replace(store.get_device(device_id), desired=forged))  # type: ignore[arg-type]
            push_desired(server, dataclasses.replace(c, desired=forged))
            await wait_for(
                lambda: (
                    devices.get(device_id).phase_reason.endswith("nothing was installed")
                    and "signature" in devices.get(device_id).phase_reason
                ),
                what="signature refusal",
            )
            assert committed(agent, bad.variant_id)
            assert signed.sha256 not in [p.stem for p in (agent.config.data_dir / "downloads").iterdir()]
            assert (await predict(agent, evalset.x[:1])).variant.variant_id == bad.variant_id


async def test_a_failing_self_test_keeps_the_old_variant(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        s = server.services
        good = variant(server, "w1.0", "fp32")
        broken = variant(server, "w0.5", "fp32")
        # A signed bundle whose expectations disagree with what the model computes (as when a device
        # runtime miscomputes a model): the agent must refuse to activate it, on its own.
        samples = s.variants.scoring_set("digits")
        manifest = Manifest(
            broken.variant_id,
            "digits",
            "fp32",
            "w0.5",
            samples.labels,
            tuple((int(y) + 1) % 10 for y in samples.y),
            0.9,
        )
        data = write_bundle(manifest, s.artifacts.read(broken.variant_id), samples)
        digest = s.artifacts.put(data)
        s.store.put_bundle(
            BundleRecord(
                broken.variant_id, digest, len(data), s.signer.sign_digest(digest), s.signer.public.key_id
            )
        )
        async with agent_in_process(agent_config(server, tmp_path / "a", "rpi4", token(server))) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=good.variant_id)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, good.variant_id), what="commit")
            [b] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=broken.variant_id)
            push_desired(server, b)
            await wait_for(lambda: s.devices.get(b.device_id).phase == "failed", what="self-test failure")
            reason = s.devices.get(b.device_id).phase_reason
            assert "self-test failed" in reason
            assert committed(agent, good.variant_id)
            failed = [slot for slot in agent.slots.slots() if slot.state == "failed"]
            assert failed[0].variant is not None
            assert failed[0].variant.variant_id == broken.variant_id


async def test_trial_interrupted_rolls_back_without_an_orchestrator(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        s = server.services
        first, second = variant(server, "w1.0", "fp32"), variant(server, "w1.0", "static_wi8_ai8")
        cfg = agent_config(server, tmp_path / "a", "rpi4", token(server))
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=first.variant_id)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, first.variant_id), what="first commit")
            # the second variant stays on trial...
            [b] = s.deployments.deploy(
                model="digits", profiles=["rpi4"], variant_id=second.variant_id, trial_seconds=60.0
            )
            push_desired(server, b)

            def on_trial() -> bool:
                active = agent.slots.active
                return (
                    active is not None
                    and active.state == "trial"
                    and active.variant is not None
                    and active.variant.variant_id == second.variant_id
                )

            await wait_for(on_trial, what="second on trial")
        # ...when the agent stops (a crash or a reboot); and the orchestrator is gone too.
    restarted = type(agent)(dataclasses.replace(cfg, orchestrator="127.0.0.1:1"))
    await restarted.start()
    try:
        active = restarted.slots.active
        assert active is not None
        assert active.variant is not None
        assert active.variant.variant_id == first.variant_id
        assert active.state == "committed"
        assert restarted.engine.current is not None
        assert restarted.engine.current.variant.variant_id == first.variant_id
        failed = next(sl for sl in restarted.slots.slots() if sl.state == "failed")
        assert "stopped during the trial" in failed.reason
    finally:
        await restarted.close()


async def test_an_interrupted_download_resumes_from_its_offset(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        s = server.services
        target = variant(server, "w2.0", "fp32")
        bundle = s.bundles.ensure(target.variant_id)
        data = s.artifacts.read(bundle.sha256)
        cfg = agent_config(server, tmp_path / "a", "rpi4", token(server))
        # what a killed download leaves behind: the first 40% of the file
        part = cfg.data_dir / "downloads" / f"{bundle.sha256}.part"
        part.parent.mkdir(parents=True)
        kept = int(len(data) * 0.4)
        part.write_bytes(data[:kept])
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="connection")
            [a] = s.deployments.deploy(model="digits", profiles=["rpi4"], variant_id=target.variant_id)
            push_desired(server, a)
            await wait_for(lambda: committed(agent, target.variant_id), what="commit")
            assert agent.downloader.bytes_received == len(data) - kept
            assert not part.exists()
