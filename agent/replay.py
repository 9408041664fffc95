"""Replay workload: feed the variant's bundled labelled samples at a steady rate (demos, benchmarks)."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from agent.engine import Engine
from agent.errors import EdgefleetError

__all__ = ["replay"]

log = logging.getLogger("edgefleet.agent.replay")


async def replay(engine: Engine, rate: float, stop: asyncio.Event, *, limit: int = 0) -> int:
    """Run until ``stop`` (or ``limit`` inferences); ``rate`` per second, ``inf`` for as fast as possible."""
    period = 0.0 if math.isinf(rate) else 1.0 / rate
    done = 0
    next_at = time.monotonic()
    while not stop.is_set() and (not limit or done < limit):
        loaded = engine.current
        if loaded is None:
            await asyncio.sleep(0.2)
            continue
        samples = loaded.bundle.samples
        i = done % len(samples)
        try:
            prediction = await engine.predict(samples.x[i : i + 1])
            engine.stats.record_labels(int(prediction.classes[0] == samples.y[i]), 1)
        except EdgefleetError as exc:
            log.warning("replay inference failed: %s", exc.message)
        done += 1
        if period:
            next_at = max(next_at + period, time.monotonic() - 1.0)  # never burst more than 1 s of backlog
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return done
