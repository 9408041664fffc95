"""What the CLI shows is what the devices said (issue 17 items 8 and 9): a real orchestrator (grpc.aio, SQLite,
the reference family), devices speaking the control protocol by hand, the CLI as users run it.

- `devices show`: the slots and applied generation follow each deployment status (the Hello's were kept
  forever: `empty` slots and generation 0 next to a committed deployment), with readable times, no dict
  reprs; an agent that sends no slots in its status keeps its Hello's, and says when they were reported.
- `telemetry -p` like `plan -p`; `events`: `1 event`, `-` for no statistics, a critical rollback with the
  99.9 % bound it was judged by.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import grpc
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.rollout.analysis import log_bound_verdict
from edgefleet.orchestrator.rollout.model import Event
from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.v1 import common_pb2, control_pb2
from tests.helpers.fleet import orchestrator_in_process, push_desired, variant_id, wait_for
from tests.helpers.raw_device import RawDevice

runner = CliRunner()


async def cli(server: OrchestratorServer, *args: str) -> tuple[int, str, str]:
    env = {"EDGEFLEET_SERVER": server.api_address, "EDGEFLEET_INSECURE": "1", "COLUMNS": "400"}
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def slot(name: str, state: str, variant: common_pb2.VariantRef | None = None, since: float = 0.0) -> Any:
    s = common_pb2.Slot(
        name=getattr(common_pb2, f"SLOT_NAME_{name.upper()}"),
        state=getattr(common_pb2, f"SLOT_STATE_{state.upper()}"),
    )
    if variant is not None:
        s.variant.CopyFrom(variant)
    if since:
        s.since.FromNanoseconds(int(since * 1e9))
    return s


def status(generation: int, phase: str, ref: common_pb2.VariantRef, **fields: Any) -> Any:
    return control_pb2.AgentMessage(
        deployment_status=control_pb2.DeploymentStatus(
            generation=generation,
            variant=ref,
            phase=getattr(common_pb2, f"DEPLOYMENT_PHASE_{phase.upper()}"),
            **fields,
        )
    )


async def deployed(server: OrchestratorServer, dev: RawDevice, vid: str) -> int:
    [assignment] = server.services.deployments.deploy(
        model="digits", device_ids=[dev.device_id], variant_id=vid
    )
    push_desired(server, assignment)
    await wait_for(lambda: bool(dev.of_kind("desired_state")), what="the desired state")
    return int(dev.of_kind("desired_state")[-1].generation)


async def test_devices_show_follows_the_deployment_status(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        token = server.services.identity.create_token()[0]
        async with grpc.aio.insecure_channel(server.address) as channel:
            dev = RawDevice(channel, token)
            await dev.connect(slots=[slot("a", "empty"), slot("b", "empty")])
            await wait_for(lambda: len(server.sessions) == 1, what="the stream")
            vid = variant_id(server, "w1.0", "fp32")
            ref = common_pb2.VariantRef(variant_id=vid, model="digits", recipe="fp32")
            gen = await deployed(server, dev, vid)
            since = time.time() - 30
            await dev.send(status(gen, "trial", ref, active=ref, slots=[slot("a", "trial", ref, since)]))
            await dev.send(
                status(
                    gen,
                    "committed",
                    ref,
                    active=ref,
                    slots=[slot("a", "committed", ref, since), slot("b", "empty")],
                )
            )
            await wait_for(lambda: server.services.devices.get(dev.device_id).phase == "committed")

            code, out, err = await cli(server, "devices", "show", dev.device_id, "--json")
            assert code == 0, err
            shown = json.loads(out)
            assert shown["applied_generation"] == gen
            a, b = shown["slots"]
            assert (a["state"], a["variant"]["variant_id"], b["state"]) == ("committed", vid, "empty")
            assert abs(a["since"] - since) < 1e-3
            assert shown["slots_reported"] > since

            code, out, err = await cli(server, "devices", "show", dev.device_id)
            assert code == 0, err
            assert re.search(
                rf"committed {vid[:12]} fp32, since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+ s ago\)", out
            )
            assert re.search(rf"applied generation\s+│ {gen}\s", out)
            assert "{" not in out
            assert " 0.0" not in out
            await dev.close()


async def test_an_agent_that_sends_no_slots_keeps_its_hellos_and_a_device_fault_settles_nothing(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        token = server.services.identity.create_token()[0]
        async with grpc.aio.insecure_channel(server.address) as channel:
            dev = RawDevice(channel, token)
            await dev.connect(slots=[slot("a", "empty"), slot("b", "empty")])
            await wait_for(lambda: len(server.sessions) == 1, what="the stream")
            vid = variant_id(server, "w1.0", "fp32")
            ref = common_pb2.VariantRef(variant_id=vid, model="digits", recipe="fp32")
            gen = await deployed(server, dev, vid)
            await dev.send(
                status(gen, "failed", ref, reason="disk full", fault=common_pb2.FAULT_DOMAIN_DEVICE)
            )
            await wait_for(lambda: server.services.devices.get(dev.device_id).phase == "failed")
            d = server.services.devices.get(dev.device_id)
            assert d.report is not None
            assert d.report.applied_generation == 0  # the agent retries a device fault: not applied yet
            await dev.send(status(gen, "committed", ref, active=ref))  # an older agent: no slots
            await wait_for(lambda: server.services.devices.get(dev.device_id).phase == "committed")
            code, out, err = await cli(server, "devices", "show", dev.device_id, "--json")
            assert code == 0, err
            shown = json.loads(out)
            assert shown["applied_generation"] == gen
            assert [s["state"] for s in shown["slots"]] == ["empty", "empty"]  # as the Hello said
            code, out, _ = await cli(server, "devices", "show", dev.device_id)
            assert "slots reported" in out
            assert "ago)" in out.split("slots reported")[1].splitlines()[0]
            await dev.close()


def energetic(seq: int, ref: common_pb2.VariantRef) -> Any:
    w = common_pb2.TelemetryWindow(sequence=seq, inferences=100, variant=ref)
    w.energy.CopyFrom(
        common_pb2.EnergyFigure(
            gross_joules_per_inference=1e-3,
            kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
            method="estimate:cpu-time",
        )
    )
    w.start.FromSeconds(1_700_000_000 + seq)
    w.end.FromSeconds(1_700_000_001 + seq)
    return control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=[w]))


async def test_telemetry_takes_profiles_like_plan_and_events_read_well(
    template: Path, tmp_path: Path
) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        token = server.services.identity.create_token(uses=2)[0]
        vid = variant_id(server, "w1.0", "fp32")
        ref = common_pb2.VariantRef(variant_id=vid, model="digits", recipe="fp32")
        async with grpc.aio.insecure_channel(server.address) as channel:
            devices = [RawDevice(channel, token, profile=p) for p in ("rpi4", "phone")]
            for dev in devices:
                await dev.connect(runtime=common_pb2.RuntimeInfo(name="ai-edge-litert", version="2.3.0"))
                await dev.send(energetic(1, ref))
            await wait_for(lambda: all(d.of_kind("telemetry_ack") for d in devices), what="the acks")

            def profiles(out: str) -> list[str]:
                return sorted(r["profile"] for r in json.loads(out))

            code, out, err = await cli(server, "telemetry", "digits", "-p", "rpi4", "--json")
            assert code == 0, err
            assert profiles(out) == ["rpi4"]
            code, out, err = await cli(
                server, "telemetry", "digits", "-p", "rpi4", "--profile", "phone", "--json"
            )
            assert profiles(out) == ["phone", "rpi4"]
            code, out, err = await cli(server, "telemetry", "digits", "--json")
            assert profiles(out) == ["phone", "rpi4"]
            code, out, err = await cli(server, "devices", "list", "-p", "phone")
            assert code == 0, err
            assert out.splitlines()[0].split() == ["1", "device"]
            for dev in devices:
                await dev.close()

        breach = log_bound_verdict("energy", [5e-3] * 5, 1e-3)  # the analysis' own statistics
        assert breach.critical
        server.services.store.add_event(
            Event(
                "rollout.decision",
                "rpi4-x: roll back: energy.t_lcb_above_budget (critical, 1 consecutive FAIL)",
                time.time() - 90,
                rollout_id="ro-1",
                device_id="rpi4-x",
                model="digits",
                rule=breach.rule,
                details={"statistics": breach.stats, "critical": True, "budget": 1e-3},
            )
        )
        server.services.store.add_event(Event("deploy.manual", "by hand", time.time(), rule="deploy.manual"))
        code, out, err = await cli(server, "events", "--rollout", "ro-1")
        assert code == 0, err
        assert out.splitlines()[0].startswith("1 event ")
        assert "99.9% lower bound 5.00 mJ > critical limit 2.00 mJ (critical)" in out
        assert "budget 1.00 mJ" in out
        assert re.search(r"\(\d+ s ago\)", out)
        code, out, err = await cli(server, "events", "--kind", "deploy.manual")
        assert code == 0, err
        assert '""' not in out
        [row] = [line for line in out.splitlines() if "by hand" in line]
        assert re.search(r"│ -\s+│$", row), row
