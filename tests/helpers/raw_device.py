"""A device speaking the control protocol by hand (insecure mode): enrol, say Hello, keep what the
orchestrator sends, send what the test wants. For orchestrator behaviour that needs a device to say
something an agent would only say after minutes of work (a benchmark report with chosen figures)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc

from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc
from tests.helpers.fleet import hello_message

__all__ = ["RawDevice", "benchmark_report"]


class RawDevice:
    def __init__(self, channel: grpc.aio.Channel, token: str, profile: str = "rpi4") -> None:
        self._stub: Any = control_pb2_grpc.FleetControlStub(channel)
        self._token = token
        self.profile = profile
        self.device_id = ""
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.received: list[control_pb2.OrchestratorMessage] = []
        self._outgoing: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, **hello: Any) -> None:
        """Enrol, then open the stream with a Hello (fields as in ``hello_message``)."""
        reply = await self._stub.Enroll(control_pb2.EnrollRequest(token=self._token, profile=self.profile))
        self.device_id = reply.device_id
        self.metadata = (
            ("x-edgefleet-device", reply.device_id),
            ("authorization", f"Bearer {reply.device_secret}"),
        )
        first = hello_message(self.device_id, profile=self.profile, **hello)

        async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
            yield first
            while (m := await self._outgoing.get()) is not None:
                yield m

        async def read() -> None:
            async for msg in self._stub.Connect(requests(), metadata=self.metadata):
                self.received.append(msg)

        self._reader = asyncio.create_task(read())

    def of_kind(self, kind: str) -> list[Any]:
        return [getattr(m, kind) for m in self.received if m.WhichOneof("body") == kind]

    async def send(self, message: control_pb2.AgentMessage) -> None:
        await self._outgoing.put(message)

    async def close(self) -> None:
        await self._outgoing.put(None)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 10)


def benchmark_report(
    job: control_pb2.BenchmarkJob,
    dynamic_joules: Callable[[common_pb2.VariantRef], float] | Mapping[str, float],
    *,
    scored: int = 182,
    correct: int = 171,
) -> control_pb2.AgentMessage:
    """A finished report of ``job``: every candidate measured with the given dynamic energy per inference
    (a function of the candidate, or a mapping variant id -> J), labelled as the CPU-time estimate."""
    results = []
    for c in job.candidates:
        energy = (
            dynamic_joules[c.variant.variant_id]
            if isinstance(dynamic_joules, Mapping)
            else dynamic_joules(c.variant)
        )
        results.append(
            common_pb2.BenchmarkResult(
                variant=c.variant,
                turns=5,
                inferences=3000,
                energy=common_pb2.EnergyFigure(
                    gross_joules_per_inference=energy * 3,
                    dynamic_joules_per_inference=energy,
                    sigma_joules=energy / 50,
                    kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
                    method="estimate:cpu-time",
                ),
                latency=common_pb2.LatencySummary(p50_seconds=1e-4, p95_seconds=2e-4),
                scored=scored,
                correct=correct,
            )
        )
    report = control_pb2.BenchmarkReport(
        job_id=job.job_id,
        state=common_pb2.BENCHMARK_STATE_DONE,
        results=results,
        done=len(results),
        total=len(results),
    )
    return control_pb2.AgentMessage(benchmark_report=report)
