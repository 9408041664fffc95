"""Writes from many streams, run in groups: one worker thread call (one transaction) per group.

Thousands of agents each send a deployment status now and then; written one by one, each is a thread hand-off
and a transaction of its own (at 5,000 agents that was the orchestrator's largest single cost). A stream's
reader awaits ``call(item)`` as before, so its own items stay in order; meanwhile a single worker takes
whatever the other streams queued (up to ``group``), runs ``run(items)`` once on a worker thread, and hands
each caller its own result, or its own error: one item's refusal never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from edgefleet.core.errors import Unavailable

__all__ = ["GroupedCalls"]

log = logging.getLogger("edgefleet.server")
T = TypeVar("T")
R = TypeVar("R")


class GroupedCalls(Generic[T, R]):
    def __init__(self, run: Callable[[Sequence[T]], Sequence[R | Exception]], *, group: int = 256) -> None:
        self._run = run
        self._group = group
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.groups = 0

    async def call(self, item: T) -> R:
        """``item``'s result, once its group is written (raises the item's error)."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def _work(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._group and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._run, [item for item, _ in group])
            except asyncio.CancelledError:  # stopping: the group's callers are told, never left waiting
                _shutting_down(future for _, future in group)
                raise
            except Exception as exc:  # the whole group failed (the database): every caller hears why
                log.warning("a group of %d writes failed: %s", len(group), exc)
                results = [exc] * len(group)
            self.groups += 1
            for (_, future), result in zip(group, results, strict=True):
                if future.done():  # its caller is gone (the stream ended)
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        _shutting_down(self._queue.get_nowait()[1] for _ in range(self._queue.qsize()))


def _shutting_down(futures: Iterable[asyncio.Future[R]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(Unavailable("the orchestrator is shutting down"))
