"""The device streams this replica holds, and how every replica learns what concerns them.

Opening a stream: the in-memory rule first (one live stream per device here), then the replicas' rule in
the store (``Replica.claim``: one live stream per device among live replicas). A stream taken over from
another replica is announced (MOVED) so that replica closes its quiet one.

A desired-state change made here reaches the device at once if its stream is here, and the other replicas
through the notifier (DESIRED): the one holding the stream reads the device from the store and pushes its
desired state. A revocation is announced the same way (REVOKED), and so is a benchmark job opening or
closing (JOB: the replica holding a device's stream reads the job and sends it). Every third of the lease,
the replica renews its liveness and the fleet-gauges lease and flushes the presence of its devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from edgefleet.core.errors import EdgefleetError, Unauthenticated
from edgefleet.orchestrator.benchmark.model import BenchmarkJob
from edgefleet.orchestrator.fleet.model import Desired
from edgefleet.orchestrator.replicas.coordinator import FLEET_GAUGES, Replica
from edgefleet.orchestrator.replicas.notifier import Notice, NoticeKind, Notifier
from edgefleet.orchestrator.server.jobs import JobMessages
from edgefleet.orchestrator.server.sessions import Outbound, Sessions
from edgefleet.orchestrator.service.deployments import Assignment
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.identity import IdentityService
from edgefleet.orchestrator.store.results import Presence
from edgefleet.v1 import control_pb2

__all__ = ["Streams"]

log = logging.getLogger("edgefleet.server")

#: The message that carries a desired state to a device (the caller adds the artifact's URL).
DesiredMessage = Callable[[Desired], control_pb2.OrchestratorMessage]


class Streams:
    def __init__(
        self,
        *,
        sessions: Sessions,
        replica: Replica,
        notifier: Notifier,
        devices: DeviceService,
        identity: IdentityService,
        desired_message: DesiredMessage,
        jobs: JobMessages,
    ) -> None:
        self.sessions = sessions
        self.replica = replica
        self.notifier = notifier
        self._devices = devices
        self._identity = identity
        self._message = desired_message
        self._jobs = jobs
        self._beat: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: Notices from other replicas this one acted on.
        self.notices = 0

    # ---- lifecycle ----
    async def start(self) -> None:
        await self._renew()
        await self.notifier.start(self._on_notice, self._resync)
        self._beat = asyncio.create_task(self._beats())

    async def stop(self) -> None:
        """Give the leases back and drop the presence held here, so the others take over at once."""
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.notifier.stop()
        try:
            await asyncio.to_thread(self.replica.drop_all)
            await asyncio.to_thread(self.replica.release_all)
        except Exception as exc:  # the store may be gone: the rows expire by themselves
            log.warning("could not hand over leases and presence at shutdown (%s); they expire instead", exc)

    # ---- streams ----
    async def open(self, device_id: str, peer: str) -> Outbound:
        """A stream for the device here; ALREADY_EXISTS while a live stream of it is here or elsewhere."""
        queue = self.sessions.open(device_id, peer)
        try:
            _, conditions = self._devices.live(device_id)
            conds = tuple((c.type, c.message, c.since) for c in conditions)
            taken_from = await asyncio.to_thread(self.replica.claim, device_id, conds)
        except BaseException:
            self.sessions.close(device_id, queue)
            raise
        if taken_from:
            log.info("device %s moved here from replica %s", device_id, taken_from)
            self.notifier.publish(Notice(NoticeKind.MOVED, (device_id,), self.replica.id))
        return queue

    def close(self, device_id: str, queue: Outbound) -> None:
        """The stream ended: forget it here, and in the store unless a newer stream of it is here."""
        if not self.sessions.close(device_id, queue) or device_id in self.sessions.connected():
            return
        self._spawn(asyncio.to_thread(self.replica.release, [device_id]))

    def push(self, assignments: Sequence[Assignment]) -> None:
        """New desired states (already stored): to the streams here now, to the other replicas' by notice."""
        elsewhere = []
        for a in assignments:
            if not self.sessions.push(a.device_id, self._message(a.desired)):
                elsewhere.append(a.device_id)
        if elsewhere:
            self.notifier.publish(Notice(NoticeKind.DESIRED, tuple(elsewhere), self.replica.id))

    async def push_job(self, job: BenchmarkJob) -> None:
        """A benchmark job opened or closed (stored): to its devices' streams here, the others by notice."""
        message = await asyncio.to_thread(self._jobs.message, job)
        elsewhere = [d for d in job.devices if not self.sessions.push(d, message)]
        if elsewhere:
            self.notifier.publish(Notice(NoticeKind.JOB, tuple(elsewhere), self.replica.id, job.job_id))

    def message(self, desired: Desired) -> control_pb2.OrchestratorMessage:
        """The message that tells a device its desired state (with the artifact's URL, if any)."""
        return self._message(desired)

    def kick(self, device_id: str, error: BaseException) -> None:
        """End the device's stream with ``error`` (revocation), wherever it is."""
        self.sessions.kick(device_id, error)
        self.notifier.publish(Notice(NoticeKind.REVOKED, (device_id,), self.replica.id))

    def online(self, device_ids: Sequence[str] = ()) -> dict[str, Presence]:
        """(Worker thread.) Devices whose stream a live replica holds, with which one and when it spoke."""
        return self.replica.online(device_ids)

    # ---- what the other replicas say ----
    async def _on_notice(self, notice: Notice) -> None:
        if notice.origin == self.replica.id:
            return
        here = [d for d in notice.device_ids if d in self.sessions.connected()]
        if not here:
            return
        self.notices += 1
        if notice.kind == NoticeKind.REVOKED:
            for device_id in here:
                self._identity.forget(device_id)
                self.sessions.kick(device_id, Unauthenticated(f"device {device_id} revoked"))
        elif notice.kind == NoticeKind.MOVED:
            for device_id in here:  # its new stream is on the notice's origin; this one went quiet
                log.info("device %s moved to replica %s; closing its stream here", device_id, notice.origin)
                self.sessions.end(device_id)
        elif notice.kind == NoticeKind.JOB:
            try:
                message = await asyncio.to_thread(self._jobs.by_id, notice.subject)
            except EdgefleetError as exc:
                log.warning("benchmark job notice from %s: %s", notice.origin, exc.message)
                return
            for device_id in here:
                self.sessions.push(device_id, message)
        else:
            await self._send_desired(here)

    async def _resync(self) -> None:
        """Notices may have been missed: send every stream here its device's desired state and open
        benchmark jobs again."""
        here = sorted(self.sessions.connected())
        await self._send_desired(here)
        for device_id in here:
            for message in await asyncio.to_thread(self._jobs.open_for, device_id):
                self.sessions.push(device_id, message)

    async def _send_desired(self, device_ids: Sequence[str]) -> None:
        def read() -> list[tuple[str, Desired]]:
            out = []
            for device_id in device_ids:
                with contextlib.suppress(Exception):
                    device = self._devices.get(device_id)
                    if device.desired is not None:
                        out.append((device_id, device.desired))
            return out

        for device_id, desired in await asyncio.to_thread(read):
            self.sessions.push(device_id, self._message(desired))

    # ---- liveness, leases, presence ----
    async def _beats(self) -> None:
        period = self.replica.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                await self._renew()
            except Exception as exc:
                log.warning("replica %s could not renew its leases (%s); retrying", self.replica.id, exc)

    async def _renew(self) -> None:
        seen = {}
        for device_id in self.sessions.connected():  # on the loop, where the sessions change
            when, conditions = self._devices.live(device_id)
            if when:
                seen[device_id] = (when, tuple((c.type, c.message, c.since) for c in conditions))
        await asyncio.to_thread(self.replica.beat, seen)
        await asyncio.to_thread(self.replica.lease, FLEET_GAUGES)

    def reports_fleet(self) -> bool:
        """Whether this replica exports the fleet-wide gauges now (no I/O)."""
        return self.replica.holds(FLEET_GAUGES)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as exc:
                log.warning("presence update failed (%s); it expires by itself", exc)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
