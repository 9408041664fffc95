"""Hostile or broken agent traffic gets the right gRPC status, and the server keeps serving others."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from edgefleet.core.evalset import EvalSet
from edgefleet.v1 import admin_pb2, admin_pb2_grpc, common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import (
    agent_config,
    agent_in_process,
    hello_message,
    orchestrator_in_process,
    predict,
    push_desired,
    wait_for,
)


async def stream_status(
    channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...], *msgs: Any
) -> grpc.StatusCode:
    async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
        for m in msgs:
            yield m

    stub: Any = control_pb2_grpc.FleetControlStub(channel)
    try:
        async for _ in stub.Connect(requests(), metadata=metadata, timeout=10):
            pass
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_bad_agent_traffic(template: Path, tmp_path: Path, evalset: EvalSet) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        svc = server.services
        good_cfg = agent_config(server, tmp_path / "good", "rpi4", svc.identity.create_token()[0])
        async with agent_in_process(good_cfg) as good:
            await wait_for(good.connected.is_set, what="healthy agent")
            [a] = svc.deployments.deploy(model="digits", profiles=["rpi4"])
            push_desired(server, a)
            await wait_for(
                lambda: good.slots.active is not None and good.slots.active.state == "committed",
                what="commit",
            )

            async with grpc.aio.insecure_channel(server.address) as channel:
                stub: Any = control_pb2_grpc.FleetControlStub(channel)
                # enrolment with a bad token
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.Enroll(control_pb2.EnrollRequest(token="eft_guess", profile="rpi4"))
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "unknown, used up or expired" in (info.value.details() or "")
                # a real device to misbehave with
                reply = await stub.Enroll(
                    control_pb2.EnrollRequest(token=svc.identity.create_token()[0], profile="rpi4")
                )
                me = (
                    ("x-edgefleet-device", reply.device_id),
                    ("authorization", f"Bearer {reply.device_secret}"),
                )

                assert (
                    await stream_status(channel, (), hello_message("x")) == grpc.StatusCode.UNAUTHENTICATED
                )  # unenrolled
                unknown = (("x-edgefleet-device", "rpi4-nope"), ("authorization", "Bearer x"))
                assert (
                    await stream_status(channel, unknown, hello_message("rpi4-nope"))
                    == grpc.StatusCode.UNAUTHENTICATED
                )
                heartbeat_first = control_pb2.AgentMessage(heartbeat=control_pb2.Heartbeat())
                assert await stream_status(channel, me, heartbeat_first) == grpc.StatusCode.INVALID_ARGUMENT
                no_runtime = hello_message(reply.device_id, runtime=common_pb2.RuntimeInfo())
                assert await stream_status(channel, me, no_runtime) == grpc.StatusCode.INVALID_ARGUMENT
                assert (
                    await stream_status(channel, me, hello_message(good.identity.device_id))
                    == grpc.StatusCode.PERMISSION_DENIED
                )  # type: ignore[union-attr]
                wrong_profile = hello_message(reply.device_id, profile="phone")
                assert await stream_status(channel, me, wrong_profile) == grpc.StatusCode.PERMISSION_DENIED
                huge = control_pb2.AgentMessage(
                    telemetry=control_pb2.TelemetryBatch(
                        windows=[
                            common_pb2.TelemetryWindow(sequence=i, flags=["x" * 1024]) for i in range(2048)
                        ]
                    )
                )
                assert (
                    await stream_status(channel, me, hello_message(reply.device_id), huge)
                    == grpc.StatusCode.RESOURCE_EXHAUSTED
                )
                empty = control_pb2.AgentMessage()
                assert (
                    await stream_status(channel, me, hello_message(reply.device_id), empty)
                    == grpc.StatusCode.INVALID_ARGUMENT
                )

                # artifacts: malformed id, one not meant for this device, offset past the end
                bundle = a.desired.bundle_sha256
                svc.deployments.deploy(
                    model="digits", device_ids=[reply.device_id], variant_id=a.desired.variant_id
                )
                for request, code in (
                    (
                        control_pb2.FetchArtifactRequest(sha256="../../etc/passwd"),
                        grpc.StatusCode.INVALID_ARGUMENT,
                    ),
                    (control_pb2.FetchArtifactRequest(sha256="ab" * 32), grpc.StatusCode.PERMISSION_DENIED),
                    (
                        control_pb2.FetchArtifactRequest(sha256=bundle, offset=10**9),
                        grpc.StatusCode.OUT_OF_RANGE,
                    ),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as info:
                        async for _ in stub.FetchArtifact(request, metadata=me):
                            pass
                    assert info.value.code() == code, request
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    async for _ in stub.FetchArtifact(control_pb2.FetchArtifactRequest(sha256=bundle)):
                        pass
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

                admin: Any = admin_pb2_grpc.FleetAdminStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await admin.GetDevice(admin_pb2.GetDeviceRequest(device_id="rpi4-unknown"))
                assert info.value.code() == grpc.StatusCode.NOT_FOUND

            # the healthy agent never noticed
            assert good.connected.is_set()
            assert (await predict(good, evalset.x[:1])).classes[0] in range(10)
            assert good.identity is not None
            assert svc.devices.get(good.identity.device_id).phase == "committed"


async def test_a_bootstrap_token_enrols_several_devices(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        svc = server.services
        assert svc.identity.ensure_bootstrap_token("lab-token-0123456789")
        assert not svc.identity.ensure_bootstrap_token("lab-token-0123456789")  # idempotent across restarts
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub: Any = control_pb2_grpc.FleetControlStub(channel)
            ids = {
                (
                    await stub.Enroll(control_pb2.EnrollRequest(token="lab-token-0123456789", profile="rpi4"))
                ).device_id
                for _ in range(3)
            }
        assert len(ids) == 3
