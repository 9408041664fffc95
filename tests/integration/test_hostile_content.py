"""Hostile content through the real admin and agent APIs (mTLS server): each is refused with a status that
names the problem, nothing is half-written, and the orchestrator keeps serving."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.reference import reference_family
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import admin_client, hello_message, orchestrator_in_process
from tests.helpers.services import object_count

CRASHING_MODEL = Path(__file__).parents[1] / "data" / "tflm_crash.tflite"


async def test_hostile_variants_and_names(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        data_dir = server.config.data_dir
        before_cards = len(server.services.variants.list_variants())
        before_objects = object_count(data_dir)
        good = reference_family().models[0].path.read_bytes()
        with admin_client(server) as api:

            async def refused(words: str, **kw: Any) -> None:
                # the sync client runs on a thread: this loop serves the orchestrator
                with pytest.raises(InvalidArgument) as err:
                    await asyncio.to_thread(lambda: api.add_variant(**kw))
                assert words in err.value.message, err.value.message

            # not a model at all; random bytes; a truncated model
            await refused(
                "not a TFLite flatbuffer", model="digits", data=b"this is not a flatbuffer at all" * 10
            )
            await refused("", model="digits", data=random.Random(1).randbytes(4096))
            await refused("", model="digits", data=good[: len(good) // 2])
            # a model that crashes TFLite Micro (SIGFPE found by fuzzing): refused, and we are still up
            await refused("crashed the runtime", model="digits", data=CRASHING_MODEL.read_bytes())
            # the same into a family that does not exist yet, without an evaluation set (now allowed for
            # real models): refused alike, and no family is left behind
            await refused("not a TFLite flatbuffer", model="fresh", data=b"not a flatbuffer" * 10)
            await refused("", model="fresh", data=good[: len(good) // 2])
            await refused("crashed the runtime", model="fresh", data=CRASHING_MODEL.read_bytes())
            assert "fresh" not in {f.model for f in server.services.variants.list_families()}
            # names that would become paths, or are absurdly long
            for name in ("../../etc/passwd", "digits/../../x", "a" * 10_000, "", "Digits", "x\x00y"):
                await refused("invalid model", model=name, data=good)
            # nothing of the refused ones was stored
            assert len(server.services.variants.list_variants()) == before_cards
            assert object_count(data_dir) == before_objects
            # and the server still takes a real model afterwards
            card = await asyncio.to_thread(api.add_variant, model="digits", data=good)
            assert card.model == "digits"
        assert not any(p.name.startswith("..") for p in data_dir.rglob("*"))


async def test_hostile_agent_fields(template: Path, tmp_path: Path) -> None:
    async with orchestrator_in_process(template, tmp_path) as server:
        assert server.tls is not None
        api_creds = grpc.ssl_channel_credentials(server.tls.ca_pem)
        async with grpc.aio.secure_channel(server.api_address, api_creds) as ch:
            stub: Any = control_pb2_grpc.FleetControlStub(ch)

            async def enrol(**kw: Any) -> Any:
                key, csr = new_key_and_csr("x")
                token = server.services.identity.create_token()[0]
                request = control_pb2.EnrollRequest(token=token, csr_pem=csr, **{"profile": "rpi4", **kw})
                return key, await stub.Enroll(request, timeout=10)

            for kw, words in (
                ({"profile": "../../etc"}, "profile"),
                ({"labels": {"../x": "1"}}, "label key"),
                ({"labels": {"site": "v" * 1000}}, "longer than 63"),
                ({"labels": {f"k{i}": "v" for i in range(100)}}, "at most"),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await enrol(**kw)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert words in (err.value.details() or "")
            # a huge, odd device name is accepted but stored short and printable
            key, reply = await enrol(name="Ω\x1b[31m" + "n" * 100_000)
            stored = server.services.devices.get(reply.device_id).name
            assert len(stored) <= 63
            assert "\x1b" not in stored

        # telemetry with NaN, inf and absurd figures, and a replayed sequence number, over a real stream
        creds = grpc.ssl_channel_credentials(server.tls.ca_pem, key, reply.certificate_pem)
        device_id = reply.device_id
        variant = server.services.variants.list_variants("digits")[0]
        ref = common_pb2.VariantRef(variant_id=variant.variant_id, model="digits", recipe=variant.recipe)

        def window(seq: int, energy: float, latency: float = 1e-4) -> common_pb2.TelemetryWindow:
            w = common_pb2.TelemetryWindow(
                sequence=seq,
                variant=ref,
                inferences=100,
                latency=common_pb2.LatencySummary(
                    p50_seconds=latency, p95_seconds=latency, p99_seconds=latency
                ),
                energy=common_pb2.EnergyFigure(
                    gross_joules_per_inference=energy,
                    kind=common_pb2.MEASUREMENT_KIND_MEASURED,
                    method="hwmon:test",
                ),
            )
            w.start.FromSeconds(1_700_000_000 + seq * 10)
            w.end.FromSeconds(1_700_000_010 + seq * 10)
            return w

        batches = [
            [
                window(1, float("nan")),
                window(2, float("inf")),
                window(3, -1.0),
                window(4, 1e-4, float("nan")),
            ],
            [window(5, 1e-4)],
            [window(5, 9.0)],  # replayed sequence number with other content: ignored
        ]
        acks: list[int] = []
        async with grpc.aio.secure_channel(server.address, creds) as ch:
            stub = control_pb2_grpc.FleetControlStub(ch)
            out: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
            out.put_nowait(hello_message(device_id))
            for b in batches:
                out.put_nowait(control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=b)))

            async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
                while (m := await out.get()) is not None:
                    yield m

            call = stub.Connect(requests(), timeout=10)
            async for msg in call:
                if msg.WhichOneof("body") == "telemetry_ack":
                    acks.append(msg.telemetry_ack.up_to_sequence)
                    if len(acks) == len(batches):
                        break
            call.cancel()
        assert acks[-1] == 5
        stored = {w.seq: w for w in server.services.store.windows(device_id=device_id)}
        assert sorted(stored) == [1, 2, 3, 4, 5]
        for seq in (1, 2, 3, 4):
            assert any(f.startswith("invalid") for f in stored[seq].flags), stored[seq].flags
        assert math.isclose(stored[5].gross_j, 1e-4)  # the replay did not overwrite it
        measured = server.services.telemetry.measured("digits", "rpi4")
        assert all(math.isfinite(m.energy_joules) for m in measured.values())
