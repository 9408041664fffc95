"""The connect loop: one session after another, with exponential backoff and full jitter between them,
moving to the next orchestrator address (replica) after each session that ends.

Any error ends only the session, never the daemon: RPC and edgefleet errors are logged in one line,
anything else with its traceback (once per distinct error; a repeat is one line) and retried the same
way. The sleep and the random source are injected, so backoff and jitter are tested without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from collections.abc import Awaitable, Callable, Sequence

import grpc

from edgefleet.agent.connection.endpoints import Endpoints
from edgefleet.core.errors import EdgefleetError

__all__ = ["Backoff", "ConnectLoop"]

log = logging.getLogger("edgefleet.agent")
#: Distinct unexpected errors remembered (their tracebacks are logged once each).
_REMEMBERED = 64


class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog): after the n-th failure in a row
    (n from 0) wait uniform(0, min(maximum, initial * 2**n)); a session that was established resets n.
    Full jitter spreads the reconnects of a whole fleet after an outage."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng
        self.failures = 0

    def ceiling(self) -> float:
        """The largest delay the next ``delay()`` can return."""
        return min(self.maximum, self.initial * 2.0 ** min(self.failures, 62))

    def delay(self) -> float:
        ceiling = self.ceiling()
        self.failures += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.failures = 0


#: One session: True when the stream was established (the orchestrator answered).
Attempt = Callable[[], Awaitable[bool]]
#: Sleep that many seconds; True when the agent is stopping (wake early).
Sleep = Callable[[float], Awaitable[bool]]


class ConnectLoop:
    def __init__(
        self,
        attempt: Attempt,
        *,
        backoff: Backoff,
        sleep: Sleep,
        stopping: Callable[[], bool],
        on_session_end: Callable[[], None] = lambda: None,
        on_retry: Callable[[], None] = lambda: None,
        addresses: Sequence[str] = ("the orchestrator",),
    ) -> None:
        self._attempt = attempt
        self._backoff = backoff
        self._sleep = sleep
        self._stopping = stopping
        self._on_session_end = on_session_end
        self._on_retry = on_retry
        #: Where the sessions go: one address at a time, the next after a session ends (replicas).
        self.endpoints = Endpoints(addresses)
        self._seen: dict[tuple[str, str, int], None] = {}
        #: Sessions that ended and were retried.
        self.reconnects = 0

    async def run(self) -> None:
        while not self._stopping():
            established = False
            try:
                established = await self._attempt()
            except grpc.aio.AioRpcError as exc:
                log.warning(
                    "stream to %s ended: %s %s", self.endpoints.current, exc.code().name, exc.details()
                )
            except EdgefleetError as exc:
                log.error("%s", exc.message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._unexpected(exc)
            finally:
                self._on_session_end()
            if self._stopping():
                return
            self.endpoints.next()
            self.reconnects += 1
            self._on_retry()
            if established:
                self._backoff.reset()
            if await self._sleep(self._backoff.delay()):
                return

    def _unexpected(self, exc: Exception) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        where = (frames[-1].filename, frames[-1].lineno or 0) if frames else ("", 0)
        key = (type(exc).__qualname__, *where)
        if key in self._seen:
            log.error(
                "connection to %s failed again: %s: %s (traceback logged before); reconnecting",
                self.endpoints.current,
                type(exc).__name__,
                exc,
            )
            return
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            del self._seen[next(iter(self._seen))]
        log.error(
            "unexpected error on the connection to %s; reconnecting with backoff",
            self.endpoints.current,
            exc_info=exc,
        )
