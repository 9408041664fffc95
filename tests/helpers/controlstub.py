"""A raw FleetControl server for driving agents through messages the orchestrator does not send yet (benchmark
jobs): a real grpc.aio server on port 0 speaking the protos (Enroll, Connect, FetchArtifact), serving real
signed bundles built by the orchestrator's own BundleService. It records everything the agent sends and
sends whatever the test queues; nothing of the agent is replaced.

``on_connect`` messages go out on every new stream (level-triggered, like the orchestrator's desired state);
``send`` goes to the current stream; ``drop`` ends it (the agent reconnects)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from edgefleet.core.bundle import Manifest, write_bundle
from edgefleet.core.evalset import EvalSet
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.server.app import Services, open_services
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc

__all__ = ["Catalogue", "ControlStub", "control_stub"]


@dataclass(frozen=True)
class Signed:
    variant: common_pb2.VariantRef
    artifact: control_pb2.ArtifactInfo


class Catalogue:
    """Real signed bundles from the orchestrator's services (a copy of a built template)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.blobs: dict[str, bytes] = {}

    def variant_ids(self, base: str = "", recipes: Iterable[str] = ()) -> list[str]:
        wanted = set(recipes)
        return [
            c.variant_id
            for c in sorted(
                self.services.variants.list_variants("digits"), key=lambda c: (c.base_name, c.recipe)
            )
            if (not base or c.base_name == base) and (not wanted or c.recipe in wanted)
        ]

    def _signed(self, variant_id: str, data: bytes) -> Signed:
        card = self.services.variants.get(variant_id)
        digest = self.services.artifacts.put(data)
        self.blobs[digest] = data
        signer = self.services.signer
        return Signed(
            common_pb2.VariantRef(variant_id=card.variant_id, model=card.model, recipe=card.recipe),
            control_pb2.ArtifactInfo(
                sha256=digest,
                size_bytes=len(data),
                signature=signer.sign_digest(digest),
                signing_key_id=signer.public.key_id,
                format="edgefleet-bundle/1",
            ),
        )

    def bundle(self, variant_id: str) -> Signed:
        """The variant's bundle as BundleService builds and signs it for a deployment."""
        record = self.services.bundles.ensure(variant_id)
        return self._signed(variant_id, self.services.artifacts.read(record.sha256))

    def custom(self, variant_id: str, samples: EvalSet, *, expected: tuple[int, ...] | None = None) -> Signed:
        """A bundle of the variant with other samples (e.g. a whole scoring split) or wrong expectations,
        signed with the same key (what a bad build would ship)."""
        from edgefleet.agent.runtime import load_model

        card = self.services.variants.get(variant_id)
        model = self.services.artifacts.read(card.variant_id)
        classes = tuple(int(c) for c in load_model(model).classify(samples.x))
        manifest = Manifest(
            variant_id=card.variant_id,
            model=card.model,
            recipe=card.recipe,
            base_name=card.base_name,
            labels=samples.labels,
            expected_classes=expected if expected is not None else classes,
            min_agreement=0.9,
            ops_energy_joules=card.ops_energy.total_j,
        )
        return self._signed(variant_id, write_bundle(manifest, model, samples))

    def signing_keys(self) -> list[control_pb2.SigningKey]:
        pub = self.services.signer.public
        return [control_pb2.SigningKey(key_id=pub.key_id, public_key=pub.raw)]


class ControlStub(control_pb2_grpc.FleetControlServicer):
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.address = ""
        self.received: list[control_pb2.AgentMessage] = []
        self.on_connect: list[control_pb2.OrchestratorMessage] = []
        self.streams = 0
        self.enrolled = 0
        self._current: asyncio.Queue[control_pb2.OrchestratorMessage | None] | None = None

    # ---- the test's side ----
    def send(self, msg: control_pb2.OrchestratorMessage) -> None:
        assert self._current is not None, "no stream"
        self._current.put_nowait(msg)

    def drop(self) -> None:
        if self._current is not None:
            self._current.put_nowait(None)

    def config(
        self, *, window_seconds: float = 0.5, canary_seconds: float = 0.0
    ) -> control_pb2.OrchestratorMessage:
        return control_pb2.OrchestratorMessage(
            config=control_pb2.AgentConfig(
                heartbeat_seconds=0.5,
                telemetry_window_seconds=window_seconds,
                canary_interval_seconds=canary_seconds,
                idle_watts=2.7,
                active_watts=6.4,
                cores=4,
                signing_keys=self.catalogue.signing_keys(),
            )
        )

    def rpi4_power_model(self) -> control_pb2.OrchestratorMessage:
        """rpi4's power figures (the built-in profile, as the orchestrator sends them) and 10 s windows:
        what the benchmarks' agents measure with."""
        rpi4 = self.catalogue.services.plans.profiles.get("rpi4")
        return control_pb2.OrchestratorMessage(
            config=control_pb2.AgentConfig(
                telemetry_window_seconds=10.0,
                idle_watts=rpi4.power.idle_watts,
                active_watts=rpi4.power.active_watts,
                cores=rpi4.hardware.cores,
                signing_keys=self.catalogue.signing_keys(),
            )
        )

    def desired(
        self, signed: Signed, generation: int = 1, runtime: str = "litert"
    ) -> control_pb2.OrchestratorMessage:
        return control_pb2.OrchestratorMessage(
            desired_state=control_pb2.DesiredState(
                generation=generation,
                variant=signed.variant,
                artifact=signed.artifact,
                trial_seconds=0.3,
                runtime=runtime,
            )
        )

    def reports(self, job_id: str = "") -> list[control_pb2.BenchmarkReport]:
        return [
            m.benchmark_report
            for m in list(self.received)
            if m.WhichOneof("body") == "benchmark_report"
            and (not job_id or m.benchmark_report.job_id == job_id)
        ]

    def windows(self) -> list[common_pb2.TelemetryWindow]:
        return [
            w for m in list(self.received) if m.WhichOneof("body") == "telemetry" for w in m.telemetry.windows
        ]

    def statuses(self) -> list[control_pb2.DeploymentStatus]:
        return [
            m.deployment_status for m in list(self.received) if m.WhichOneof("body") == "deployment_status"
        ]

    # ---- FleetControl ----
    async def Enroll(self, request: Any, context: Any) -> control_pb2.EnrollResponse:  # noqa: N802
        self.enrolled += 1
        return control_pb2.EnrollResponse(
            device_id="dev-bench", device_secret="secret", signing_keys=self.catalogue.signing_keys()
        )

    async def Connect(  # noqa: N802
        self, request_iterator: Any, context: Any
    ) -> AsyncIterator[control_pb2.OrchestratorMessage]:
        self.streams += 1
        queue: asyncio.Queue[control_pb2.OrchestratorMessage | None] = asyncio.Queue()
        self._current = queue
        for msg in self.on_connect:
            queue.put_nowait(msg)

        async def read() -> None:
            async for msg in request_iterator:
                self.received.append(msg)
                if msg.WhichOneof("body") == "telemetry" and msg.telemetry.windows:
                    up_to = max(w.sequence for w in msg.telemetry.windows)
                    ack = control_pb2.TelemetryAck(up_to_sequence=up_to)
                    queue.put_nowait(control_pb2.OrchestratorMessage(telemetry_ack=ack))
            queue.put_nowait(None)

        reader = asyncio.create_task(read())
        try:
            while (msg := await queue.get()) is not None:
                yield msg
        finally:
            reader.cancel()
            if self._current is queue:
                self._current = None

    async def FetchArtifact(self, request: Any, context: Any) -> AsyncIterator[control_pb2.ArtifactChunk]:  # noqa: N802
        data = self.catalogue.blobs.get(request.sha256)
        if data is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no artifact {request.sha256[:12]}")
        step = min(request.max_chunk_bytes or 256 * 1024, 256 * 1024)
        for offset in range(request.offset, len(data), step):
            yield control_pb2.ArtifactChunk(
                offset=offset, data=data[offset : offset + step], total_size=len(data)
            )


def open_catalogue(template: Path, root: Path) -> Catalogue:
    data = root / "orch"
    if not data.exists():
        shutil.copytree(template, data)
    return Catalogue(open_services(ServerConfig(data_dir=data, insecure=True, api_listen="")))


@asynccontextmanager
async def control_stub(template: Path, root: Path) -> AsyncIterator[ControlStub]:
    catalogue = open_catalogue(template, root)
    stub = ControlStub(catalogue)
    server = grpc.aio.server()
    control_pb2_grpc.add_FleetControlServicer_to_server(stub, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stub.address = f"127.0.0.1:{port}"
    stub.on_connect.append(stub.config())
    try:
        yield stub
    finally:
        await server.stop(0.2)
        catalogue.services.close()
