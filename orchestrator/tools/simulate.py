"""Protocol-level fleet simulator: N agents against a real orchestrator, in this process or spread over
worker processes (each with its own event loop), with a hard overall timeout.

Each simulated agent enrols, keeps its own Connect stream (reconnecting with jittered backoff, as real
agents do), sends telemetry, downloads and verifies every artifact it is asked to run and acknowledges
deployments (see tools/sim_agent.py). The run: enrol and connect everyone; once all are connected,
optionally deploy and wait until the deployment reached every agent; then run ``duration_s`` more. If the
timeout comes first the report says how far it got, how many agents did not connect and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from edgefleet.orchestrator.tools.sim_agent import Endpoints, Tally
from edgefleet.orchestrator.tools.sim_swarm import ProcessSwarm, Swarm, swarm_specs

__all__ = ["Endpoints", "SimulationReport", "simulate"]

_POLL_S = 0.05
#: Closing thousands of connections takes a while; a worker that needs longer than this (+5 s) is killed.
STOP_GRACE_S = 15.0


class _Swarm(Protocol):
    problem: str  # a worker process that died or hung: nothing more to wait for

    def snapshot(self) -> Tally: ...
    def mark(self) -> None: ...
    async def stop(self, grace_s: float = 30.0) -> Tally: ...


@dataclass
class DeploymentResult:
    """A deployment step: agents that committed a newer generation after it began; time until all had."""

    name: str
    reached: int = 0
    after_s: float = float("nan")


@dataclass
class SimulationReport:
    agents: int
    processes: int = 0
    #: Streams up when the connect phase ended (all of them, or as many as there were at the timeout).
    connected: int = 0
    connected_after_s: float = float("nan")
    #: One per deployment step, in order (see DeploymentResult).
    deployments: list[DeploymentResult] = field(default_factory=list)
    #: Deployment steps asked for (a step the run did not get to is missing from ``deployments``).
    steps_requested: int = 0
    committed: int = 0
    windows_sent: int = 0
    windows_acked: int = 0
    backpressure_advice: int = 0
    #: Windows in flight when the agents stopped, still unanswered after their drain.
    windows_unanswered: int = 0
    artifacts_bytes: int = 0
    reconnects: int = 0
    stream_errors: dict[str, int] = field(default_factory=dict)
    enroll_errors: dict[str, int] = field(default_factory=dict)
    download_errors: dict[str, int] = field(default_factory=dict)
    enroll_failed: int = 0
    #: Deployment problems (artifact digest or signature), and worker processes that failed.
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    elapsed_s: float = 0.0

    @property
    def committed_after_s(self) -> float:
        """The first deployment step's time to reach every agent (nan: none, or it did not)."""
        return self.deployments[0].after_s if self.deployments else float("nan")

    @property
    def reached(self) -> int:
        return self.deployments[-1].reached if self.deployments else 0

    @property
    def all_connected(self) -> bool:
        return not math.isnan(self.connected_after_s)

    @property
    def ok(self) -> bool:
        """Every agent connected, the deployment (if any) reached every one, and nothing failed."""
        reached = len(self.deployments) == self.steps_requested and all(
            not math.isnan(d.after_s) for d in self.deployments
        )
        return self.all_connected and reached and not self.errors

    def failures(self) -> list[str]:
        """One line per thing that went wrong, for people."""
        lines = []
        if not self.all_connected:
            why = "the timeout" if self.timed_out else "the end of the connect phase"
            common = next(iter(self.stream_errors.items()), None)
            also = f" (most frequent stream error, {common[1]} times: {common[0]})" if common else ""
            lines.append(
                f"{self.agents - self.connected} of {self.agents} agents were not connected at {why}{also}"
            )
        if self.enroll_failed:
            lines.append(f"{self.enroll_failed} agents could not enrol")
        lines += [
            f"{d.name} reached {d.reached} of {self.agents} agents"
            for d in self.deployments
            if math.isnan(d.after_s)
        ]
        if self.download_errors:
            first, times = next(iter(self.download_errors.items()))
            total = sum(self.download_errors.values())
            lines.append(f"{total} artifact downloads failed (most frequent, {times} times: {first})")
        lines += [f"worker: {e}" for e in self.errors if e.startswith("worker ")]
        deploy_errors = [e for e in self.errors if not e.startswith("worker ")]
        if deploy_errors:
            lines.append(f"{len(deploy_errors)} deployment errors, e.g. {deploy_errors[0]}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:  # JSON has no NaN: a time not reached is null
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            **{k: plain(v) for k, v in self.__dict__.items()},
            "deployments": [{k: plain(v) for k, v in d.__dict__.items()} for d in self.deployments],
            "committed_after_s": plain(self.committed_after_s),
            "all_connected": self.all_connected,
            "ok": self.ok,
        }


def _total(swarms: Sequence[_Swarm]) -> Tally:
    total = Tally()
    for s in swarms:
        total = total.add(s.snapshot())
    return total


def _endpoints(where: Endpoints | Sequence[Endpoints]) -> list[Endpoints]:
    return [where] if isinstance(where, Endpoints) else list(where)


async def simulate(
    where: Endpoints | str | Sequence[Endpoints],
    token: str,
    *,
    agents: int,
    profiles: tuple[str, ...],
    duration_s: float,
    window_s: float = 5.0,
    seed: int = 0,
    channels: int = 8,
    deploy: Callable[[], Awaitable[Any]] | None = None,
    steps: Sequence[tuple[str, Callable[[], Awaitable[Any]]]] = (),
    processes: int = 0,
    timeout_s: float = 600.0,
    deploy_timeout_s: float | None = None,
) -> SimulationReport:
    """Run ``agents`` simulated agents; ``processes`` 0 runs them on this event loop, P >= 1 spreads them
    over P worker processes. Several ``where`` (orchestrator replicas) split the agents evenly between
    them, each block on at least one process of its own. Once all are connected, each deployment step in
    turn (``deploy``, named "deploy", then ``steps``) is started and awaited until it reached every agent,
    or for at most ``deploy_timeout_s`` (default: max(duration, 60 s, 20 ms per agent)). Then
    ``duration_s`` more.
    Everything ends by ``timeout_s`` (then stopping the agents takes at most ``STOP_GRACE_S`` + 5 s).

    With a CA every agent has its own key, certificate and TLS connection, as real devices do;
    insecure agents share ``channels`` plaintext connections per process."""
    places = [Endpoints(where, where)] if isinstance(where, str) else _endpoints(where)
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    specs = swarm_specs(places, agents, processes, token, profiles, window_s, seed, channels)
    swarms: list[_Swarm] = []
    if processes <= 0:
        for spec in specs:
            local = Swarm(spec)
            local.start()
            swarms.append(local)
    else:
        swarms += [ProcessSwarm(spec) for spec in specs]
    all_steps = [*([("deploy", deploy)] if deploy is not None else []), *steps]
    report = SimulationReport(agents=agents, processes=processes, steps_requested=len(all_steps))
    pump = asyncio.create_task(_pump(swarms))  # keeps the workers' pipes drained while a step is started
    try:
        await _run(swarms, report, t0, deadline, duration_s, all_steps, deploy_timeout_s)
    finally:
        pump.cancel()
        finals = await asyncio.gather(*(s.stop(grace_s=STOP_GRACE_S) for s in swarms))
        _fill(report, finals, swarms)
        report.elapsed_s = time.monotonic() - t0
    return report


async def _pump(swarms: Sequence[_Swarm]) -> None:
    while True:
        _total(swarms)
        await asyncio.sleep(0.1)


async def _wait_until(
    swarms: Sequence[_Swarm], done: Callable[[Tally], bool], deadline: float
) -> tuple[bool, Tally]:
    while True:
        tally = _total(swarms)
        if done(tally) or time.monotonic() >= deadline or any(s.problem for s in swarms):
            return done(tally), tally
        await asyncio.sleep(_POLL_S)


async def _run(
    swarms: Sequence[_Swarm],
    report: SimulationReport,
    t0: float,
    deadline: float,
    duration_s: float,
    steps: Sequence[tuple[str, Callable[[], Awaitable[Any]]]],
    deploy_timeout_s: float | None,
) -> None:
    n = report.agents

    def settled(t: Tally) -> bool:  # everyone connected, or nothing more can connect
        gave_up = t.enroll_failed > 0 and t.enrolled + t.enroll_failed >= n
        return t.connected >= n or (gave_up and t.connected >= t.enrolled)

    ok, tally = await _wait_until(swarms, settled, deadline)
    report.connected = tally.connected
    if not ok or tally.connected < n:
        report.timed_out = time.monotonic() >= deadline
        return
    report.connected_after_s = time.monotonic() - t0
    window = deploy_timeout_s if deploy_timeout_s is not None else max(duration_s, 60.0, n / 50)
    for name, start in steps:
        for s in swarms:
            s.mark()
        await asyncio.sleep(0.3)  # the workers take the mark before anything can reach them
        t1 = time.monotonic()
        try:
            async with asyncio.timeout(max(0.0, deadline - t1)):
                await start()
        except TimeoutError:
            report.deployments.append(DeploymentResult(name))
            report.timed_out = True
            return
        ok, tally = await _wait_until(swarms, lambda t: t.reached >= n, min(deadline, t1 + window))
        result = DeploymentResult(name, tally.reached)
        report.deployments.append(result)
        if ok:
            result.after_s = time.monotonic() - t1
        elif time.monotonic() >= deadline or any(s.problem for s in swarms):
            report.timed_out = time.monotonic() >= deadline
            return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, min(duration_s, deadline - time.monotonic()))):
            await asyncio.Event().wait()


def _fill(report: SimulationReport, finals: Sequence[Tally], swarms: Sequence[_Swarm]) -> None:
    total = Tally()
    for t in finals:
        total = total.add(t)
    if report.deployments:
        report.deployments[-1].reached = total.reached
    report.committed = total.committed
    report.windows_sent, report.windows_acked = total.windows_sent, total.windows_acked
    report.backpressure_advice = total.backpressure_advice
    report.windows_unanswered = total.windows_unanswered
    report.artifacts_bytes = total.artifacts_bytes
    report.reconnects = total.reconnects
    report.stream_errors = dict(total.stream_errors.most_common())
    report.enroll_errors = dict(total.enroll_errors.most_common())
    report.download_errors = dict(total.download_errors.most_common())
    report.enroll_failed = total.enroll_failed
    report.errors = total.errors + [s.problem for s in swarms if s.problem]
