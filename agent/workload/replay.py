"""Replay workload: feed the variant's bundled labelled samples at a steady rate (demos, benchmarks).

Inferences that are due are handed to the inference thread together (one handoff per
chunk), so replay keeps up with a bare interpreter loop even for microsecond models.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from edgefleet.agent.workload.engine import Engine
from edgefleet.core.errors import EdgefleetError

__all__ = ["replay"]

log = logging.getLogger("edgefleet.agent.replay")
#: Largest chunk per handoff; bounds how long one executor call holds the inference thread.
MAX_CHUNK = 256


async def replay(engine: Engine, rate: float, stop: asyncio.Event, *, limit: int = 0) -> int:
    """Run until ``stop`` (or ``limit`` inferences); ``rate`` per second, ``inf`` for as fast as possible."""
    started = time.monotonic()
    done = 0
    while not stop.is_set() and (not limit or done < limit):
        if engine.current is None:
            await asyncio.sleep(0.2)
            continue
        due = MAX_CHUNK if math.isinf(rate) else int((time.monotonic() - started) * rate) - done
        due = min(due, MAX_CHUNK, limit - done if limit else MAX_CHUNK)
        if due <= 0:
            await asyncio.sleep(min(1.0, (done + 1) / rate - (time.monotonic() - started)))
            continue
        try:
            done += await engine.replay_chunk(done, due)
        except EdgefleetError as exc:
            log.warning("replay inference failed: %s", exc.message)
            done += due
        if not math.isinf(rate) and (time.monotonic() - started) * rate - done > rate:
            started = time.monotonic() - done / rate  # never burst more than 1 s of backlog
    return done
