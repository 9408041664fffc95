"""Simulated agents on one event loop (a Swarm), in this process or in a worker process of its own.

The driver (tools/simulate.py) sees both the same way: ``snapshot()`` (the tally so far), ``mark()`` (count
the agents a deployment reaches from now on) and ``stop()``. A worker process sends its tally to the parent
ten times a second over a pipe and takes the parent's commands from it; it stops if the parent goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import grpc

from edgefleet.orchestrator.server.limits import raise_open_file_limit
from edgefleet.orchestrator.tools.sim_agent import Endpoints, SimAgent, Tally
from edgefleet.v1 import control_pb2_grpc

__all__ = ["ProcessSwarm", "Swarm", "SwarmSpec", "run_worker", "split_evenly", "swarm_specs"]

#: Concurrent enrolments per swarm (each is a CSR signed by the orchestrator's CA, on its worker threads).
ENROLL_CONCURRENCY = 100
_REPORT_EVERY_S = 0.1


@dataclass(frozen=True)
class SwarmSpec:
    """Which agents a swarm runs (global indices ``first`` .. ``first + count - 1``) and how."""

    where: Endpoints
    token: str
    first: int
    count: int
    profiles: tuple[str, ...]
    window_s: float
    seed: int
    channels: int = 8


class Swarm:
    """``spec.count`` simulated agents on the running event loop: enrol them all, then connect them all."""

    def __init__(self, spec: SwarmSpec) -> None:
        self.spec = spec
        self.tally = Tally(agents=spec.count)
        self.stopping = asyncio.Event()
        self.agents = [
            SimAgent(
                i, spec.profiles[i % len(spec.profiles)], random.Random(spec.seed * 1_000_003 + i), self.tally
            )
            for i in range(spec.first, spec.first + spec.count)
        ]
        self._channels: list[grpc.aio.Channel] = []
        self.problem = ""  # never set: a swarm on the caller's loop cannot die on its own
        self._tasks: list[asyncio.Task[None]] = []
        self._starter: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._starter = asyncio.create_task(self._start())

    async def _start(self) -> None:
        where, n = self.spec.where, max(1, min(self.spec.channels, self.spec.count))
        if where.ca_pem is None:
            api_chans = [grpc.aio.insecure_channel(where.api) for _ in range(n)]
            agent_chans = [grpc.aio.insecure_channel(where.agents) for _ in range(n)]
        else:
            creds = grpc.ssl_channel_credentials(where.ca_pem)
            api_chans, agent_chans = [grpc.aio.secure_channel(where.api, creds) for _ in range(n)], []
        self._channels = api_chans + agent_chans
        api = [control_pb2_grpc.FleetControlStub(c) for c in api_chans]
        shared = [control_pb2_grpc.FleetControlStub(c) for c in agent_chans or api_chans]
        enrolled: list[SimAgent] = []
        for start in range(0, len(self.agents), ENROLL_CONCURRENCY):
            if self.stopping.is_set():
                return
            batch = self.agents[start : start + ENROLL_CONCURRENCY]
            done = await asyncio.gather(
                *(
                    a.enroll(api[a.i % n], shared[a.i % n], self.spec.token, where, self.stopping)
                    for a in batch
                )
            )
            enrolled += [a for a, ok in zip(batch, done, strict=True) if ok]
        self._tasks = [asyncio.create_task(a.run(self.stopping, self.spec.window_s)) for a in enrolled]

    def snapshot(self) -> Tally:
        tally = copy.deepcopy(self.tally)
        tally.reached = sum(a.reached for a in self.agents)
        return tally

    def mark(self) -> None:
        for a in self.agents:
            a.mark()

    async def stop(self, grace_s: float = 30.0) -> Tally:
        """Stop sending windows and wait (up to half of ``grace_s``) for the answers to those in flight, so
        the tally says what became of each window; then stop every agent and close every channel (bounded
        by ``grace_s``); the final tally."""
        for a in self.agents:
            a.draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s / 2):
                # polled: thousands of agents' counters, read 20 times a second for a few seconds at most
                while any(a.up and a.unanswered > 0 for a in self.agents):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        self.tally.windows_unanswered = sum(max(0, a.unanswered) for a in self.agents if a.up)
        self.stopping.set()
        tasks = [t for t in (self._starter, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        channels = self._channels + [a.channel for a in self.agents if a.channel is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.gather(*(c.close() for c in channels), return_exceptions=True)
        return self.snapshot()


def run_worker(conn: Connection, spec: SwarmSpec) -> None:
    """A worker process: one swarm on its own event loop, driven over ``conn`` by the parent."""
    raise_open_file_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_parent(conn, spec))


async def _serve_parent(conn: Connection, spec: SwarmSpec) -> None:
    swarm = Swarm(spec)
    swarm.start()
    try:
        while True:
            while conn.poll():
                command = conn.recv()
                if command == "mark":
                    swarm.mark()
                elif command == "stop":
                    conn.send(("final", await swarm.stop()))
                    return
            conn.send(("tally", swarm.snapshot()))
            await asyncio.sleep(_REPORT_EVERY_S)
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the parent is gone: stop too
        await swarm.stop(grace_s=5.0)


class ProcessSwarm:
    """A swarm in a worker process of its own (spawned: grpc does not survive fork), seen from the parent."""

    def __init__(self, spec: SwarmSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc: Any = ctx.Process(
            target=run_worker, args=(child, spec), name=f"sim-{spec.first}", daemon=True
        )
        self._proc.start()
        child.close()
        self._last = Tally(agents=spec.count)
        self._final: Tally | None = None
        self.problem = ""

    def _drain(self) -> None:
        try:
            while self._final is None and self._conn.poll():
                kind, tally = self._conn.recv()
                self._last = tally
                if kind == "final":
                    self._final = tally
        except (EOFError, OSError):
            pass
        if self._final is None and not self.problem and self._proc.exitcode is not None:
            self.problem = f"worker {self._proc.name} exited with code {self._proc.exitcode}"

    def snapshot(self) -> Tally:
        self._drain()
        return self._last

    def mark(self) -> None:
        self._conn.send("mark")

    async def stop(self, grace_s: float = 30.0) -> Tally:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        deadline = time.monotonic() + grace_s + 5.0
        while self._final is None and not self.problem and time.monotonic() < deadline:
            self._drain()
            await asyncio.sleep(0.05)
        if self._final is None and not self.problem:
            self.problem = f"worker {self._proc.name} did not stop within {grace_s + 5.0:.0f} s"
        await asyncio.to_thread(self._proc.join, 5.0)
        if self._proc.is_alive():
            self._proc.kill()
            await asyncio.to_thread(self._proc.join, 5.0)
        self._conn.close()
        return self._last


def split_evenly(agents: int, processes: int) -> list[tuple[int, int]]:
    """(first, count) per process, as even as can be."""
    base, extra = divmod(agents, processes)
    out, first = [], 0
    for p in range(processes):
        count = base + (p < extra)
        out.append((first, count))
        first += count
    return [(f, c) for f, c in out if c]


def swarm_specs(
    places: Sequence[Endpoints],
    agents: int,
    processes: int,
    token: str,
    profiles: tuple[str, ...],
    window_s: float,
    seed: int,
    channels: int,
) -> list[SwarmSpec]:
    """Agents split evenly over the orchestrators (in blocks, in order), each block over its share of
    the processes (at least one per orchestrator)."""
    specs = []
    for (first, count), place in zip(split_evenly(agents, len(places)), places, strict=False):
        for offset, n in split_evenly(count, max(1, processes // len(places))):
            specs.append(SwarmSpec(place, token, first + offset, n, profiles, window_s, seed, channels))
    return specs
