"""Telling the other replicas about a device: its desired state changed, it was revoked, its stream moved,
a benchmark job addressed to it opened or closed.

A notice carries device ids (and a job's id) only, never state: the replica that holds a device's stream
reads the device (or the job) from the store and acts (level-triggered, so a late or repeated notice is
harmless). Two implementations:

* ``LocalNotifier``: in-process (SQLite is one process; tests may run several servers in one process on
  one hub);
* ``PgNotifier``: PostgreSQL ``LISTEN``/``NOTIFY`` on one channel, on two connections of its own (one
  listens, one publishes). A notice lost while the listening connection was down is made good by
  ``on_resync`` after it reconnects: the replica re-sends every stream it holds its current desired state.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["CHANNEL", "LocalNotifier", "Notice", "NoticeKind", "Notifier", "PgNotifier", "open_notifier"]

log = logging.getLogger("edgefleet.replicas")

#: The PostgreSQL notification channel every replica listens on.
CHANNEL = "edgefleet_devices"
#: PostgreSQL refuses payloads of 8000 bytes or more; notices are cut into chunks below this.
_MAX_PAYLOAD = 7000
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class NoticeKind(StrEnum):
    #: The devices' desired state changed: push it to their streams.
    DESIRED = "desired"
    #: The devices were revoked: forget them and end their streams.
    REVOKED = "revoked"
    #: The devices' streams moved to the notice's origin: close the (quiet) ones held here.
    MOVED = "moved"
    #: A benchmark job (the notice's ``subject``) addressed to the devices opened or closed: send it to them.
    JOB = "job"


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    device_ids: tuple[str, ...]
    #: The replica that sent it (a replica ignores its own notices: it acted already).
    origin: str
    #: What the notice is about besides the devices ("" : nothing; JOB: the job's id).
    subject: str = ""

    def payloads(self) -> list[str]:
        """The notice as JSON texts short enough for NOTIFY (several when it names many devices)."""
        out: list[str] = []
        chunk: list[str] = []
        size = 0
        for device_id in self.device_ids:
            if chunk and size + len(device_id) + 4 > _MAX_PAYLOAD - len(self.subject):
                out.append(self._encode(chunk))
                chunk, size = [], 0
            chunk.append(device_id)
            size += len(device_id) + 4
        if chunk:
            out.append(self._encode(chunk))
        return out

    def _encode(self, ids: Sequence[str]) -> str:
        doc = {"k": str(self.kind), "o": self.origin, "d": list(ids)}
        if self.subject:
            doc["s"] = self.subject
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def decode(cls, payload: str) -> Notice | None:
        try:
            doc = json.loads(payload)
            ids = tuple(str(d) for d in doc["d"])
            return cls(NoticeKind(doc["k"]), ids, str(doc["o"]), str(doc.get("s", "")))
        except (ValueError, KeyError, TypeError):
            return None


#: What a replica does with a notice from another one (on the event loop).
Handler = Callable[[Notice], Coroutine[Any, Any, None]]
#: After a gap in listening: make good whatever notices may have been missed.
Resync = Callable[[], Awaitable[None]]


class Notifier(abc.ABC):
    """Start with the replica's handlers; ``publish`` from the event loop (it never blocks)."""

    @abc.abstractmethod
    async def start(self, handler: Handler, on_resync: Resync) -> None: ...

    @abc.abstractmethod
    def publish(self, notice: Notice) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...


class LocalNotifier(Notifier):
    """In-process: every server started on this notifier (its hub) hears the others' notices."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handler: Handler, on_resync: Resync) -> None:
        self._handlers.append(handler)

    def publish(self, notice: Notice) -> None:
        for handler in list(self._handlers):
            task = asyncio.get_running_loop().create_task(handler(notice))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self._handlers.clear()


class PgNotifier(Notifier):
    """``conninfo``: a libpq URL (postgresql://USER[:PASSWORD]@HOST:PORT/DB)."""

    def __init__(self, conninfo: str, *, where: str = "PostgreSQL") -> None:
        self._conninfo = conninfo
        self._where = where
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        #: Notices published and received (for tests and logs).
        self.sent = 0
        self.received = 0
        #: Set once the listening connection is up (the first time).
        self.listening = asyncio.Event()

    async def start(self, handler: Handler, on_resync: Resync) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(handler, on_resync)),
            asyncio.create_task(self._publish()),
        ]
        waiter = asyncio.create_task(self.listening.wait())
        await asyncio.wait([waiter, self._tasks[0]], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    def publish(self, notice: Notice) -> None:
        for payload in notice.payloads():
            self._outbox.put_nowait(payload)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connect(self) -> Any:
        import psycopg  # the orchestrator extra; only PostgreSQL stores get here

        return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True, connect_timeout=10)

    async def _listen(self, handler: Handler, on_resync: Resync) -> None:
        failures = 0
        while True:
            try:
                conn = await self._connect()
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.listening.is_set():  # a gap: notices may have been missed
                        log.info("listening for other replicas' notices again (%s)", self._where)
                        await on_resync()
                    self.listening.set()
                    failures = 0
                    async for note in conn.notifies():
                        notice = Notice.decode(note.payload)
                        if notice is None:
                            log.warning("ignored a malformed notice on %s", CHANNEL)
                            continue
                        self.received += 1
                        try:
                            await handler(notice)
                        except Exception:
                            log.exception("handling a %s notice failed", notice.kind)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = _RETRY_S[min(failures, len(_RETRY_S) - 1)]
                failures += 1
                log.warning(
                    "lost the notice channel to %s (%s); reconnecting in %.1f s",
                    self._where,
                    " ".join(str(exc).split()) or type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _publish(self) -> None:
        conn: Any = None
        failures = 0
        try:
            while True:
                payload = await self._outbox.get()
                while True:  # a notice is kept until it is sent: the others act on nothing else
                    try:
                        if conn is None or conn.closed:
                            conn = await self._connect()
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                        self.sent += 1
                        failures = 0
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        delay = _RETRY_S[min(failures, len(_RETRY_S) - 1)]
                        failures += 1
                        log.warning("cannot notify the other replicas (%s); retrying in %.1f s", exc, delay)
                        if conn is not None:
                            with contextlib.suppress(Exception):
                                await conn.close()
                        conn = None
                        await asyncio.sleep(delay)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()


def open_notifier(store_url: str) -> Notifier:
    """The notifier that fits the store: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite."""
    from edgefleet.orchestrator.store.engine import mask_url, parse_store_url

    url = parse_store_url(store_url)
    if url.get_backend_name() != "postgresql":
        return LocalNotifier()
    plain = url.set(drivername="postgresql")
    return PgNotifier(plain.render_as_string(hide_password=False), where=mask_url(plain))
