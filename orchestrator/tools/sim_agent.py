"""One protocol-level simulated agent, and the tally its process keeps of what its agents did.

A simulated agent enrols (its own key and CSR with mTLS), keeps a Connect stream and, like a real agent,
reconnects with full-jitter exponential backoff when the stream fails or ends. It downloads and verifies
every artifact it is asked to run (size, SHA-256, Ed25519 signature), acknowledges deployments (trial,
then committed) and sends synthetic telemetry windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from edgefleet.agent.identity.tls import new_key_and_csr
from edgefleet.core.trust import verify_digest
from edgefleet.orchestrator.tools.sim_synthetic import benchmark_report, synthetic_window
from edgefleet.orchestrator.tools.sim_tally import Endpoints, Tally, describe
from edgefleet.v1 import common_pb2, control_pb2, control_pb2_grpc

__all__ = ["BACKOFF_INITIAL_S", "BACKOFF_MAX_S", "Endpoints", "SimAgent", "Tally"]

#: The real agent's defaults (agent/config.py): first retry within 0.5 s, doubling up to 30 s.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
#: Enrolment errors worth another try: the call was refused or lost, not judged.
_RETRY_ENROLL = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


async def _backoff(stop: asyncio.Event, rng: random.Random, delay: float) -> None:
    """Full jitter (as the real agent): a random wait in [0, delay), cut short by stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=rng.uniform(0, delay))


class SimAgent:
    def __init__(self, i: int, profile: str, rng: random.Random, tally: Tally) -> None:
        self.i, self.profile, self.rng, self.tally = i, profile, rng, tally
        self.channel: grpc.aio.Channel | None = None
        self.stub: Any = None
        self.device_id = ""
        self.secret = ""
        self.keys: dict[str, bytes] = {}
        self.active: common_pb2.VariantRef | None = None
        self.up = False
        self.ever_up = False
        self.committed_gen = 0
        self.attempted_gen = 0
        self.desired: control_pb2.DesiredState | None = None
        self.marked_gen = 0
        self.seq = 0
        self.quiet_until = 0.0
        #: Windows of the current stream not yet acknowledged or refused; ``draining`` stops sending more.
        self.unanswered = 0
        self.draining = False

    def mark(self) -> None:
        """From now on, count this agent as reached once it commits a newer generation."""
        self.marked_gen = self.committed_gen

    @property
    def reached(self) -> bool:
        return self.committed_gen > self.marked_gen

    def md(self) -> tuple[tuple[str, str], ...]:
        if not self.secret:  # mTLS: the certificate says who we are
            return (("x-edgefleet-device", self.device_id),)
        return (("x-edgefleet-device", self.device_id), ("authorization", f"Bearer {self.secret}"))

    async def enroll(self, api: Any, shared: Any, token: str, where: Endpoints, stop: asyncio.Event) -> bool:
        """Enrol on the API port (retrying refused calls with backoff); with mTLS, a key and CSR of our own
        and then a channel of our own. Insecure agents use ``shared``, a stub on a shared channel."""
        key_pem = csr_pem = b""
        if where.ca_pem is not None:
            key_pem, csr_pem = new_key_and_csr(f"sim-{self.i}")
        request = control_pb2.EnrollRequest(
            token=token, profile=self.profile, name=f"sim-{self.i}", csr_pem=csr_pem
        )
        delay = BACKOFF_INITIAL_S
        while True:
            try:
                reply = await api.Enroll(request, timeout=60.0)
                break
            except grpc.aio.AioRpcError as exc:
                self.tally.enroll_errors[describe(exc)] += 1
                if exc.code() not in _RETRY_ENROLL or stop.is_set():
                    self.tally.enroll_failed += 1
                    return False
            await _backoff(stop, self.rng, delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        self.device_id, self.secret = reply.device_id, reply.device_secret
        self.keys = {k.key_id: k.public_key for k in reply.signing_keys}
        self.tally.enrolled += 1
        if where.ca_pem is None:
            self.stub = shared
        else:
            creds = grpc.ssl_channel_credentials(where.ca_pem, key_pem, reply.certificate_pem)
            self.channel = grpc.aio.secure_channel(where.agents, creds)
            self.stub = control_pb2_grpc.FleetControlStub(self.channel)
        return True

    async def run(self, stop: asyncio.Event, window_s: float) -> None:
        """Keep a stream up until stop; reconnect like a real agent when it fails or ends."""
        delay = BACKOFF_INITIAL_S
        while not stop.is_set():
            established = False
            try:
                established = await self._session(stop, window_s)
                if not stop.is_set():
                    self.tally.stream_errors["ended by the orchestrator"] += 1
            except grpc.aio.AioRpcError as exc:
                if stop.is_set():
                    return
                self.tally.stream_errors[describe(exc)] += 1
            finally:
                self._down()
            if stop.is_set():
                return
            self.tally.reconnects += 1
            delay = BACKOFF_INITIAL_S if established else min(delay * 2, BACKOFF_MAX_S)
            await _backoff(stop, self.rng, delay)

    def _up(self) -> None:
        if not self.up:
            self.up = True
            self.tally.connected += 1
            if not self.ever_up:
                self.ever_up = True
                self.tally.ever_connected += 1

    def _down(self) -> None:
        if self.up:
            self.up = False
            self.tally.connected -= 1

    async def _session(self, stop: asyncio.Event, window_s: float) -> bool:
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

        call = self.stub.Connect(requests(), metadata=self.md())
        self.unanswered = 0  # a window sent on an ended stream is never answered: not counted here
        opening = True  # the stream's first acknowledgement says what is stored, it answers no window
        sender = asyncio.create_task(self._windows(stop, window_s, out))
        applier: asyncio.Task[None] | None = None
        try:
            async for msg in call:
                self._up()
                kind = msg.WhichOneof("body")
                if kind == "telemetry_ack":
                    self.unanswered -= 0 if opening else 1
                    opening = False
                if kind == "telemetry_ack" and msg.telemetry_ack.retry_after_seconds > 0:
                    # Back-pressure: as a real agent, send no telemetry until the advised time has passed.
                    self.quiet_until = time.monotonic() + msg.telemetry_ack.retry_after_seconds
                    self.tally.backpressure_advice += 1
                elif kind == "telemetry_ack":
                    self.tally.windows_acked += 1
                elif kind == "benchmark_job":
                    report = benchmark_report(self.device_id, self.profile, msg.benchmark_job)
                    out.put_nowait(control_pb2.AgentMessage(benchmark_report=report))
                elif kind == "desired_state" and msg.desired_state.generation > self.attempted_gen:
                    # As the real agent: the latest desired state is applied beside the stream, once.
                    self.desired = msg.desired_state
                    if applier is None or applier.done():
                        applier = asyncio.create_task(self._apply_latest(out))
                if stop.is_set():
                    break
            return self.up
        finally:
            if applier is not None:
                applier.cancel()
            sender.cancel()
            out.put_nowait(None)
            call.cancel()

    async def _windows(
        self, stop: asyncio.Event, window_s: float, out: asyncio.Queue[control_pb2.AgentMessage | None]
    ) -> None:
        while not stop.is_set() and not self.draining:
            await asyncio.sleep(window_s * self.rng.uniform(0.9, 1.1))
            if self.active is None or not self.up or time.monotonic() < self.quiet_until or self.draining:
                continue
            self.seq += 1
            w = synthetic_window(self.rng, self.profile, self.seq, self.active, window_s)
            out.put_nowait(control_pb2.AgentMessage(telemetry=control_pb2.TelemetryBatch(windows=[w])))
            self.tally.windows_sent += 1
            self.unanswered += 1

    async def _fetch(self, art: control_pb2.ArtifactInfo) -> str:
        h, size = hashlib.sha256(), 0
        async for chunk in self.stub.FetchArtifact(
            control_pb2.FetchArtifactRequest(sha256=art.sha256), metadata=self.md()
        ):
            h.update(chunk.data)
            size += len(chunk.data)
        self.tally.artifacts_bytes += size
        if size != art.size_bytes or h.hexdigest() != art.sha256:
            return f"size/digest mismatch ({size} B)"
        if not verify_digest(self.keys.get(art.signing_key_id, b""), art.sha256, art.signature):
            return "signature does not verify"
        return ""

    async def _apply_latest(self, out: asyncio.Queue[Any]) -> None:
        while self.desired is not None and self.desired.generation > self.attempted_gen:
            ds = self.desired
            self.attempted_gen = ds.generation
            await self._deploy(ds, out)

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

        try:
            problem = await self._fetch(ds.artifact)
        except grpc.aio.AioRpcError as exc:  # the real agent reports the generation failed, and moves on
            self.tally.download_errors[describe(exc)] += 1
            status(common_pb2.DEPLOYMENT_PHASE_FAILED, f"download failed: {describe(exc)}")
            return
        if problem:
            self.tally.errors.append(f"{self.device_id}: {problem}")
            status(common_pb2.DEPLOYMENT_PHASE_FAILED, problem)
            return
        self.active = ds.variant
        status(common_pb2.DEPLOYMENT_PHASE_TRIAL)
        status(common_pb2.DEPLOYMENT_PHASE_COMMITTED)
        self.committed_gen = ds.generation
        self.tally.committed += 1
