"""The connect loop with an injected sleep and random source: backoff, jitter and error handling, without
waiting for real time."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

from edgefleet.agent.connection.loop import Backoff, ConnectLoop
from edgefleet.core.errors import Unavailable


class FixedRng(random.Random):
    """uniform(a, b) returns a + fraction * (b - a): the jitter's share is chosen by the test."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a + self.fraction * (b - a)


class Script:
    """Sessions that play a script: True (established, then ended), False (refused), or an exception."""

    def __init__(self, outcomes: list[bool | BaseException], stop_after: int | None = None) -> None:
        self.outcomes = outcomes
        self.stop_after = len(outcomes) if stop_after is None else stop_after
        self.calls = 0
        self.slept: list[float] = []

    async def attempt(self) -> bool:
        outcome = self.outcomes[self.calls]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def sleep(self, seconds: float) -> bool:
        self.slept.append(seconds)
        return False

    def stopping(self) -> bool:
        return self.calls >= self.stop_after


def loop_for(script: Script, backoff: Backoff, **kw: Callable[[], None]) -> ConnectLoop:
    return ConnectLoop(script.attempt, backoff=backoff, sleep=script.sleep, stopping=script.stopping, **kw)


def test_backoff_doubles_to_the_cap_with_full_jitter() -> None:
    rng = FixedRng(1.0)  # the top of every jitter range: the ceilings themselves
    backoff = Backoff(0.5, 4.0, rng)
    assert [backoff.delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert rng.ranges == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0), (0, 4.0), (0, 4.0)]  # full jitter: from 0
    backoff.reset()
    assert backoff.delay() == 0.5


def test_jitter_spreads_a_fleet_between_zero_and_the_ceiling() -> None:
    delays = [Backoff(1.0, 30.0, FixedRng(f)).delay() for f in (0.0, 0.25, 0.5, 1.0)]
    assert delays == [0.0, 0.25, 0.5, 1.0]
    seeded = [Backoff(1.0, 30.0, random.Random(seed)) for seed in range(50)]
    for b in seeded:
        b.failures = 3
    spread = [b.delay() for b in seeded]
    assert all(0 <= d <= 8.0 for d in spread)
    assert len({round(d, 3) for d in spread}) > 40  # a fleet does not reconnect in lockstep


async def test_refusals_back_off_and_an_established_session_resets_it() -> None:
    script = Script([False, False, False, True, False])
    loop = loop_for(script, Backoff(1.0, 100.0, FixedRng(1.0)))
    await loop.run()
    # three refusals: 1, 2, 4; an established stream ends: back to 1; then refused again: 2
    assert script.slept == [1.0, 2.0, 4.0, 1.0]
    assert loop.reconnects == 4
    assert script.calls == 5


async def test_rpc_and_edgefleet_errors_are_retried() -> None:
    script = Script([Unavailable("orchestrator down"), True])
    retries: list[int] = []
    loop = loop_for(script, Backoff(0.5, 1.0, FixedRng(0.5)), on_retry=lambda: retries.append(1))
    await loop.run()
    assert script.calls == 2
    assert script.slept == [0.25]
    assert retries == [1]


async def test_an_unexpected_error_is_logged_once_with_its_traceback_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def boom() -> RuntimeError:
        try:
            raise RuntimeError("hardware facts exploded")
        except RuntimeError as exc:
            return exc

    script = Script([boom(), boom(), boom(), True])
    ended: list[int] = []
    loop = loop_for(script, Backoff(0.5, 8.0, FixedRng(1.0)), on_session_end=lambda: ended.append(1))
    with caplog.at_level(logging.ERROR, logger="edgefleet.agent"):
        await loop.run()  # the loop goes on: it does not end the daemon
    assert script.calls == 4
    assert script.slept == [0.5, 1.0, 2.0]  # backed off like any failure
    assert len(ended) == 4
    errors = [r for r in caplog.records if "hardware facts exploded" in r.getMessage() or r.exc_info]
    with_traceback = [r for r in errors if r.exc_info]
    assert len(with_traceback) == 1  # the traceback once; the repeats are one line each
    assert "RuntimeError: hardware facts exploded" in caplog.text
    assert sum("failed again" in r.getMessage() for r in caplog.records) == 2


async def test_cancellation_is_not_swallowed() -> None:
    import asyncio

    async def forever() -> bool:
        await asyncio.sleep(3600)
        return True

    async def no_sleep(_: float) -> bool:
        return False

    loop = ConnectLoop(forever, backoff=Backoff(1, 1, FixedRng(0)), sleep=no_sleep, stopping=lambda: False)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
