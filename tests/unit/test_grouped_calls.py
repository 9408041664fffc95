"""Writes from many streams run in groups: each caller gets its own result or its own error, in order per
caller, and stopping never leaves a caller waiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from edgefleet.core.errors import InvalidArgument, Unavailable
from edgefleet.orchestrator.server.grouped import GroupedCalls


async def test_concurrent_calls_share_groups_and_each_gets_its_own_result() -> None:
    groups: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int | Exception]:
        groups.append(list(items))
        return [InvalidArgument(f"{i} is refused") if i % 7 == 3 else i * 10 for i in items]

    calls = GroupedCalls(run, group=64)

    async def caller(k: int) -> list[int | str]:
        out: list[int | str] = []
        for i in range(k * 10, k * 10 + 10):  # one caller's items: in order, one at a time
            try:
                out.append(await calls.call(i))
            except InvalidArgument as exc:
                out.append(exc.message)
        return out

    results = await asyncio.gather(*(caller(k) for k in range(50)))
    await calls.stop()
    for k, got in enumerate(results):
        assert got == [f"{i} is refused" if i % 7 == 3 else i * 10 for i in range(k * 10, k * 10 + 10)]
    assert sum(len(g) for g in groups) == 500
    assert len(groups) < 50  # grouped: far fewer calls of ``run`` than items
    assert max(len(g) for g in groups) <= 64
    assert calls.groups == len(groups)


async def test_a_failed_group_tells_every_caller_and_the_next_group_runs() -> None:
    failing = [True]

    def run(items: Sequence[int]) -> list[int | Exception]:
        if failing[0]:
            failing[0] = False
            raise OSError("database is locked")
        return list(items)

    calls = GroupedCalls(run)
    first = await asyncio.gather(calls.call(1), calls.call(2), return_exceptions=True)
    assert all(isinstance(e, OSError) for e in first)
    assert await calls.call(3) == 3
    await calls.stop()


async def test_stopping_answers_the_group_in_flight_and_the_queued_calls() -> None:
    entered, release = threading.Event(), threading.Event()

    def run(items: Sequence[int]) -> list[int | Exception]:
        entered.set()
        release.wait(10)
        return list(items)

    calls = GroupedCalls(run)
    in_flight = asyncio.create_task(calls.call(1))
    await asyncio.to_thread(entered.wait, 10)
    queued = asyncio.create_task(calls.call(2))
    await asyncio.sleep(0.05)
    await calls.stop()
    release.set()
    for task in (in_flight, queued):
        with pytest.raises(Unavailable, match="shutting down"):
            await task
