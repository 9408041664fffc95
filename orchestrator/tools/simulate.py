"""Protocol-level fleet simulator: N agents in one asyncio process against a real orchestrator.

Each simulated agent enrols, keeps its own Connect stream, sends heartbeats, downloads and verifies
every artifact it is asked to run (size, SHA-256, Ed25519 signature), acknowledges deployments
(trial, then committed), answers benchmark jobs with synthetic results (no download, no inference:
energies from the variant's recipe, labelled estimated) and sends synthetic telemetry windows. Scale tests
and large-fleet demos.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.core.trust import verify_digest
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc

__all__ = ["Endpoints", "SimulationReport", "simulate"]

_ENERGY = {"rpi4": 6e-5, "phone": 2e-5, "mcu-gateway": 2e-4}  # synthetic dynamic J per inference
# Synthetic energy per recipe relative to float32, shaped like CPU kernels (not the op-count model): dynamic-
# range int8 quantizes activations on every call and costs more than float32, full-integer int8 saves.
_RECIPE_ENERGY = {
    "fp32": 1.0,
    "fp16": 1.05,
    "weight_only_wi8_afp32": 1.1,
    "dynamic_wi8_afp32": 1.35,
    "dynamic_wi4_afp32": 1.5,
    "static_wi8_ai8": 0.7,
}


@dataclass
class SimulationReport:
    agents: int
    connected_after_s: float = float("nan")
    committed_after_s: float = float("nan")
    windows_sent: int = 0
    windows_acked: int = 0
    artifacts_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    committed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Endpoints:
    """Where simulated agents go: the agents' port, the API port (enrolment) and the CA (None: insecure)."""

    agents: str
    api: str
    ca_pem: bytes | None = None


class _SimAgent:
    def __init__(self, i: int, profile: str, stub: Any, rng: random.Random, report: SimulationReport) -> None:
        self.i, self.profile, self.stub, self.rng, self.report = i, profile, stub, rng, report
        self.channel: grpc.aio.Channel | None = None
        self.device_id = ""
        self.secret = ""
        self.keys: dict[str, bytes] = {}
        self.active: common_pb2.VariantRef | None = None
        self.connected = asyncio.Event()
        self.committed_gen = 0
        self.seq = 0

    def md(self) -> tuple[tuple[str, str], ...]:
        if not self.secret:  # mTLS: the certificate says who we are
            return (("x-edgefleet-device", self.device_id),)
        return (("x-edgefleet-device", self.device_id), ("authorization", f"Bearer {self.secret}"))

    async def enroll(self, api: Any, token: str, where: Endpoints) -> None:
        """Enrol on the API port; with mTLS, a key and CSR of our own and then a channel of our own."""
        key_pem = csr_pem = b""
        if where.ca_pem is not None:
            key_pem, csr_pem = new_key_and_csr(f"sim-{self.i}")
        reply = await api.Enroll(
            control_pb2.EnrollRequest(
                token=token, profile=self.profile, name=f"sim-{self.i}", csr_pem=csr_pem
            )
        )
        self.device_id, self.secret = reply.device_id, reply.device_secret
        self.keys = {k.key_id: k.public_key for k in reply.signing_keys}
        if where.ca_pem is not None:
            creds = grpc.ssl_channel_credentials(where.ca_pem, key_pem, reply.certificate_pem)
            self.channel = grpc.aio.secure_channel(where.agents, creds)
            self.stub = control_pb2_grpc.FleetControlStub(self.channel)

    async def fetch(self, art: control_pb2.ArtifactInfo) -> str:
        h, size = hashlib.sha256(), 0
        async for chunk in self.stub.FetchArtifact(
            control_pb2.FetchArtifactRequest(sha256=art.sha256), metadata=self.md()
        ):
            h.update(chunk.data)
            size += len(chunk.data)
        self.report.artifacts_bytes += size
        if size != art.size_bytes or h.hexdigest() != art.sha256:
            return f"size/digest mismatch ({size} B)"
        if not verify_digest(self.keys.get(art.signing_key_id, b""), art.sha256, art.signature):
            return "signature does not verify"
        return ""

    async def run(self, stop: asyncio.Event, window_s: float) -> None:
        out: asyncio.Queue[control_pb2.AgentMessage | None] = asyncio.Queue()
        hello = control_pb2.Hello(
            device_id=self.device_id,
            profile=self.profile,
            agent_version="simulated",
            runtime=common_pb2.RuntimeInfo(name="simulated", version="0"),
        )
        out.put_nowait(control_pb2.AgentMessage(hello=hello))

        async def requests() -> AsyncIterator[control_pb2.AgentMessage]:
            while (m := await out.get()) is not None:
                yield m

        async def windows() -> None:
            while not stop.is_set():
                await asyncio.sleep(window_s * self.rng.uniform(0.9, 1.1))
                if self.active is None:
                    continue
                self.seq += 1
                n = self.rng.randint(100, 300)
                e = _ENERGY.get(self.profile, 1e-4) * self.rng.lognormvariate(0, 0.1)
                w = common_pb2.TelemetryWindow(
                    sequence=self.seq,
                    variant=self.active,
                    inferences=n,
                    labelled=n,
                    correct=sum(self.rng.random() < 0.96 for _ in range(n)),
                    latency=common_pb2.LatencySummary(p50_seconds=1e-4, p95_seconds=2e-4, p99_seconds=3e-4),
                    energy=common_pb2.EnergyFigure(
                        gross_joules_per_inference=e * 3,
                        dynamic_joules_per_inference=e,
                        kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
                        method="simulated",
                    ),
                )
                w.end.GetCurrentTime()
                w.start.FromNanoseconds(w.end.ToNanoseconds() - int(window_s * 1e9))
                out.put_nowait(control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=[w])))
                self.report.windows_sent += 1

        call = self.stub.Connect(requests(), metadata=self.md())
        sender = asyncio.create_task(windows())
        try:
            async for msg in call:
                self.connected.set()
                kind = msg.WhichOneof("body")
                if kind == "telemetry_ack":
                    self.report.windows_acked = max(self.report.windows_acked, 0) + 1
                elif kind == "desired_state" and msg.desired_state.generation > self.committed_gen:
                    await self._deploy(msg.desired_state, out)
                elif kind == "benchmark_job":
                    out.put_nowait(
                        control_pb2.AgentMessage(benchmark_report=self._benchmark(msg.benchmark_job))
                    )
                if stop.is_set():
                    break
        finally:
            sender.cancel()
            out.put_nowait(None)
            call.cancel()

    def _benchmark(self, job: control_pb2.BenchmarkJob) -> control_pb2.BenchmarkReport:
        """A plausible report, the same every time this device is asked (seeded by device and variant)."""
        results = []
        for c in job.candidates:
            rng = random.Random(f"{self.device_id}/{c.variant.variant_id}")
            factor = _RECIPE_ENERGY.get(c.variant.recipe, 1.0)
            dynamic = _ENERGY.get(self.profile, 1e-4) * factor * rng.lognormvariate(0, 0.05)
            turns = job.rounds or 3
            results.append(
                common_pb2.BenchmarkResult(
                    variant=c.variant,
                    turns=turns,
                    inferences=turns * rng.randint(500, 1500),
                    energy=common_pb2.EnergyFigure(
                        gross_joules_per_inference=dynamic * 3,
                        dynamic_joules_per_inference=dynamic,
                        sigma_joules=dynamic * 0.05,
                        kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
                        method="simulated",
                    ),
                    latency=common_pb2.LatencySummary(
                        p50_seconds=1e-4 * factor, p95_seconds=2e-4 * factor, p99_seconds=3e-4 * factor
                    ),
                    peak_rss_bytes=60_000_000,
                    scored=180,
                    correct=sum(rng.random() < 0.96 for _ in range(180)),
                )
            )
        state = common_pb2.BENCHMARK_STATE_DONE if results else common_pb2.BENCHMARK_STATE_CANCELLED
        return control_pb2.BenchmarkReport(
            job_id=job.job_id, state=state, results=results, done=len(results), total=len(results)
        )

    async def _deploy(self, ds: control_pb2.DesiredState, out: asyncio.Queue[Any]) -> None:
        def status(phase: common_pb2.DeploymentPhase.ValueType, reason: str = "") -> None:
            st = control_pb2.DeploymentStatus(
                generation=ds.generation,
                variant=ds.variant,
                phase=phase,
                reason=reason,
                runtime=common_pb2.RuntimeInfo(name="simulated", version="0"),
            )
            if self.active is not None:
                st.active.CopyFrom(self.active)
            out.put_nowait(control_pb2.AgentMessage(deployment_status=st))

        problem = await self.fetch(ds.artifact)
        if problem:
            self.report.errors.append(f"{self.device_id}: {problem}")
            status(common_pb2.DEPLOYMENT_PHASE_FAILED, problem)
            return
        self.active = ds.variant
        status(common_pb2.DEPLOYMENT_PHASE_TRIAL)
        status(common_pb2.DEPLOYMENT_PHASE_COMMITTED)
        self.committed_gen = ds.generation
        self.report.committed += 1


async def simulate(
    where: Endpoints | str,
    token: str,
    *,
    agents: int,
    profiles: tuple[str, ...],
    duration_s: float,
    window_s: float = 5.0,
    seed: int = 0,
    channels: int = 8,
    deploy: Callable[[], Awaitable[Any]] | None = None,
) -> SimulationReport:
    """Run ``agents`` simulated agents for ``duration_s`` (after all connected); report what happened.

    With a CA every agent has its own key, certificate and TLS connection, as real devices do;
    insecure agents share ``channels`` plaintext connections."""
    where = Endpoints(where, where) if isinstance(where, str) else where
    report = SimulationReport(agents=agents)
    rng = random.Random(seed)
    n = max(1, min(channels, agents))
    if where.ca_pem is None:
        chans = [grpc.aio.insecure_channel(where.agents) for _ in range(n)]
        api_chans = [grpc.aio.insecure_channel(where.api) for _ in range(n)]
    else:
        chans = []
        creds = grpc.ssl_channel_credentials(where.ca_pem)
        api_chans = [grpc.aio.secure_channel(where.api, creds) for _ in range(n)]
    stubs = [control_pb2_grpc.FleetControlStub(c) for c in chans or api_chans]
    api = [control_pb2_grpc.FleetControlStub(c) for c in api_chans]
    sims = [
        _SimAgent(i, profiles[i % len(profiles)], stubs[i % len(stubs)], random.Random(rng.random()), report)
        for i in range(agents)
    ]
    t0 = time.monotonic()
    stop = asyncio.Event()
    try:
        for start in range(0, agents, 100):  # enrol in batches
            batch = sims[start : start + 100]
            await asyncio.gather(*(s.enroll(api[s.i % n], token, where) for s in batch))
        tasks = [asyncio.create_task(s.run(stop, window_s)) for s in sims]
        await asyncio.gather(*(s.connected.wait() for s in sims))
        report.connected_after_s = time.monotonic() - t0
        if deploy is not None:
            t1 = time.monotonic()
            before = report.committed
            await deploy()
            deadline = t1 + max(duration_s, 60.0)
            while report.committed - before < agents and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            if report.committed - before >= agents:
                report.committed_after_s = time.monotonic() - t1
        await asyncio.sleep(duration_s)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for c in [*chans, *api_chans, *(s.channel for s in sims if s.channel is not None)]:
            await c.close()
    return report
