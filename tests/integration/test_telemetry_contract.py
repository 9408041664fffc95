"""The telemetry contract on a real stream: an ack means stored, one bad window never costs another, and
nothing a device sends in a window ends its stream. Raw protocol clients written from the protos, as an
outside implementation (or an attacker) would write them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from edgefleet.orchestrator.server.app import OrchestratorServer
from edgefleet.orchestrator.service import telemetry as telemetry_module
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import hello_message, orchestrator_in_process, variant_id, wait_for


def window(seq: int, **fields: Any) -> common_pb2.TelemetryWindow:
    w = common_pb2.TelemetryWindow(sequence=seq, inferences=100, **fields)
    if not w.HasField("start"):
        w.start.FromSeconds(1_700_000_000 + seq % 1_000_000)
        w.end.FromSeconds(1_700_000_001 + seq % 1_000_000)
    return w


def batch(*windows: common_pb2.TelemetryWindow) -> control_pb2.AgentMessage:
    return control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=list(windows)))


class RawDevice:
    """An enrolled device speaking the protocol by hand: messages go out when put, replies are collected."""

    def __init__(
        self, server: OrchestratorServer, device_id: str, metadata: tuple[tuple[str, str], ...]
    ) -> None:
        self.server = server
        self.device_id = device_id
        self.metadata = metadata
        self.outgoing: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
        self.acks: list[control_pb2.TelemetryAck] = []
        self.error: grpc.aio.AioRpcError | None = None

    async def _requests(self) -> AsyncIterator[control_pb2.AgentMessage]:
        while (msg := await self.outgoing.get()) is not None:
            yield msg

    async def run(self, channel: grpc.aio.Channel) -> None:
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        try:
            async for msg in stub.Connect(self._requests(), metadata=self.metadata):
                if msg.WhichOneof("body") == "telemetry_ack":
                    self.acks.append(msg.telemetry_ack)
        except grpc.aio.AioRpcError as exc:
            self.error = exc

    def stored(self) -> list[int]:
        return sorted(w.seq for w in self.server.services.store.windows(device_id=self.device_id))


@asynccontextmanager
async def raw_device(
    server: OrchestratorServer, hello: Any = None, device: RawDevice | None = None
) -> AsyncIterator[RawDevice]:
    """A device enrolled now, or ``device``'s identity again (on a restarted server over the same store)."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub: Any = control_pb2_grpc.FleetControlStub(channel)
        if device is None:
            token = server.services.identity.create_token()[0]
            reply = await stub.Enroll(control_pb2.EnrollRequest(token=token, profile="rpi4"))
            secret = (("authorization", f"Bearer {reply.device_secret}"),)
            device = RawDevice(server, reply.device_id, (("x-edgefleet-device", reply.device_id), *secret))
        else:
            device = RawDevice(server, device.device_id, device.metadata)
        device.outgoing.put_nowait(hello or hello_message(device.device_id))
        task = asyncio.create_task(device.run(channel))
        try:
            yield device
        finally:
            device.outgoing.put_nowait(None)
            await asyncio.wait_for(task, 10)


async def test_an_out_of_range_timestamp_is_flagged_not_a_stream_error(
    template: Path, tmp_path: Path
) -> None:
    """Issue 15 item 3: a Timestamp outside protobuf's range ended the stream with INTERNAL, and the agent's
    outbox resent it on every reconnect: the device never reported again."""
    async with orchestrator_in_process(template, tmp_path, secure=False) as server, raw_device(server) as dev:
        bad = window(1)
        bad.start.seconds = 10**13  # year ~318,000
        dev.outgoing.put_nowait(batch(bad))
        dev.outgoing.put_nowait(batch(window(2)))
        await wait_for(
            lambda: (bool(dev.acks) and dev.acks[-1].up_to_sequence == 2) or dev.error is not None, what="ack"
        )
        assert dev.error is None
        assert dev.stored() == [1, 2]
        flagged = next(w for w in server.services.store.windows(device_id=dev.device_id) if w.seq == 1)
        assert any("invalid start timestamp" in f for f in flagged.flags)


def acks(dev: RawDevice) -> list[int]:
    return [a.up_to_sequence for a in dev.acks if not a.retry_after_seconds]


async def settle(dev: RawDevice, n: int) -> None:
    await wait_for(lambda: len(dev.acks) >= n or dev.error is not None, what=f"{n} acks")
    assert dev.error is None


async def test_an_ack_claims_only_the_contiguous_stored_prefix(template: Path, tmp_path: Path) -> None:
    """Issue 15 item 1: the server acked MAX(seq) stored, so a window lost in between (refused under
    back-pressure, or a locked store) was acked, and the agent deleted it: gone from both sides."""
    async with orchestrator_in_process(template, tmp_path, secure=False) as server, raw_device(server) as dev:
        dev.outgoing.put_nowait(batch(window(1), window(2), window(3)))
        await settle(dev, 2)  # the Hello's ack (0), then this batch's
        assert acks(dev)[-1] == 3
        dev.outgoing.put_nowait(batch(window(5)))  # 4 went missing on the way
        await settle(dev, 3)
        assert acks(dev)[-1] == 3  # not 5: window 4 is not stored
        dev.outgoing.put_nowait(batch(window(4)))
        await settle(dev, 4)
        assert acks(dev)[-1] == 5
        # windows the agent itself dropped (outbox overflow) are declared, and the ack moves past them
        declared = control_pb2.AgentMessage(
            telemetry=control_pb2.TelemetryBatch(windows=[window(9)], dropped_through_sequence=8)
        )
        dev.outgoing.put_nowait(declared)
        await settle(dev, 5)
        assert acks(dev)[-1] == 9
        assert dev.stored() == [1, 2, 3, 4, 5, 9]

    # a new stream is answered with what is stored, before any batch (Hello.last_telemetry_sequence)
    async with orchestrator_in_process(template, tmp_path, secure=False) as server:
        device_id = dev.device_id
        hello = hello_message(device_id, last_telemetry_sequence=12)
        async with raw_device(server, hello=hello, device=dev) as again:
            await settle(again, 1)
            assert acks(again) == [9]


async def test_a_window_the_store_cannot_hold_is_rejected_alone(template: Path, tmp_path: Path) -> None:
    """Issue 15 item 2: a legal uint64 sequence >= 2**63 failed the SQLite write of its whole storage group,
    other devices' batches included; with item 1 a neighbour lost 300 windows."""
    async with (
        orchestrator_in_process(template, tmp_path, secure=False) as server,
        raw_device(server) as hostile,
        raw_device(server) as neighbour,
    ):
        hostile.outgoing.put_nowait(batch(window(1), window(2**63 + 5)))
        neighbour.outgoing.put_nowait(batch(*(window(s) for s in range(1, 301))))
        await settle(hostile, 2)
        await settle(neighbour, 2)
        assert neighbour.stored() == list(range(1, 301))
        assert acks(neighbour)[-1] == 300
        assert hostile.stored() == [1]
        assert acks(hostile)[-1] == 1


def energetic(
    seq: int, variant: common_pb2.VariantRef, gross: float, dynamic: float | None
) -> common_pb2.TelemetryWindow:
    energy = common_pb2.EnergyFigure(
        gross_joules_per_inference=gross,
        kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
        method="estimate:cpu-time",
    )
    if dynamic is not None:
        energy.dynamic_joules_per_inference = dynamic
    return window(seq, variant=variant, energy=energy)


async def test_gross_and_dynamic_energy_are_each_their_own_figure(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 items 5 and 6: the gross gauge showed the dynamic figure; `telemetry --json` printed NaN;
    the inference and energy counters were recomputed from the newest windows, so they went down."""
    monkeypatch.setattr(telemetry_module, "AGGREGATE_WINDOWS", 3)  # the recent-window figures look at 3
    async with orchestrator_in_process(template, tmp_path, secure=False) as server, raw_device(server) as dev:
        fp32 = variant_id(server, "w1.0", "fp32")
        int8 = variant_id(server, "w1.0", "static_wi8_ai8")
        ref = common_pb2.VariantRef(variant_id=fp32, model="digits", recipe="fp32")
        no_baseline = common_pb2.VariantRef(variant_id=int8, model="digits", recipe="static_wi8_ai8")
        dev.outgoing.put_nowait(batch(*(energetic(s, ref, 1e-3, 2e-4) for s in range(1, 4))))
        dev.outgoing.put_nowait(batch(energetic(4, no_baseline, 5e-4, None)))
        await settle(dev, 3)
        registry = server.metrics.registry

        def sample(name: str, **labels: str) -> float | None:
            value: float | None = registry.get_sample_value(name, labels)
            return value

        gauge = {
            "model": "digits",
            "profile": "rpi4",
            "variant": fp32[:12],
            "recipe": "fp32",
            "kind": "estimated",
        }
        assert sample("edgefleet_energy_per_inference_joules", **gauge, measure="gross") == pytest.approx(
            1e-3
        )
        assert sample("edgefleet_energy_per_inference_joules", **gauge, measure="dynamic") == pytest.approx(
            2e-4
        )
        no_dynamic = {**gauge, "variant": int8[:12], "recipe": "static_wi8_ai8"}
        assert sample("edgefleet_energy_per_inference_joules", **no_dynamic, measure="dynamic") is None
        counter = {"model": "digits", "profile": "rpi4", "variant": fp32[:12]}
        seen = [sample("edgefleet_inferences_total", **counter)]
        for s in range(5, 11):  # more windows than the figures look at, with fewer inferences each
            few = energetic(s, ref, 1e-3, 2e-4)
            few.inferences = 60
            dev.outgoing.put_nowait(batch(few))
            await settle(dev, s - 1)
            seen.append(sample("edgefleet_inferences_total", **counter))
        assert seen == sorted(seen)  # a counter never goes down
        assert seen[-1] == 3 * 100 + 6 * 60
        assert sample("edgefleet_energy_joules_total", **counter, measure="gross") == pytest.approx(
            3 * 100 * 1e-3 + 6 * 60 * 1e-3
        )

        env = {"EDGEFLEET_SERVER": server.api_address, "EDGEFLEET_INSECURE": "1", "COLUMNS": "200"}
        result = await asyncio.to_thread(CliRunner().invoke, app, ["telemetry", "digits", "--json"], env=env)
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
        by_recipe = {r["recipe"]: r for r in rows}
        assert by_recipe["fp32"]["gross_j"] == pytest.approx(1e-3)
        assert by_recipe["fp32"]["dynamic_j"] == pytest.approx(2e-4)
        assert by_recipe["static_wi8_ai8"]["dynamic_j"] is None
        assert by_recipe["fp32"]["measure"] == "dynamic"
