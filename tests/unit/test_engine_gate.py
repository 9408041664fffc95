"""Predict first, on the engine's one inference thread: benchmark work asks the gate before every inference
and hands the thread over as soon as a serving call waits; a serving call given up before it started does
not hold the benchmark back. (Real threads; the "inferences" are 1 ms sleeps, the serving call a refused
model load: what matters here is who runs when, counted, not timed.)"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.engine import Engine, Gate
from edgefleet.core.errors import InvalidArgument

V = VariantInfo("a" * 64, "digits", "fp32")


async def test_a_serving_call_waits_for_at_most_one_benchmark_inference() -> None:
    engine = Engine()
    running = threading.Event()

    def benchmark(gate: Gate) -> int:
        n = 0
        while n < 5_000 and gate.clear():
            running.set()
            time.sleep(0.001)  # one inference
            gate.ran()
            n += 1
        gate.ended(n)
        return n

    try:
        work = asyncio.create_task(engine.run_benchmark(benchmark))
        await asyncio.to_thread(running.wait, 5)
        with pytest.raises(InvalidArgument):  # a serving call: it runs next, whatever it is
            await engine.load("a", Path("/nonexistent/bundle.tar"), V, "litert")
        ran = await work
        assert ran < 5_000  # the benchmark handed the thread over ...
        assert engine.longest_wait <= 1  # ... after at most the inference it was in
        assert engine.stats.take_window().benchmark_inferences == ran
    finally:
        engine.close()


async def test_a_serving_call_given_up_before_it_started_does_not_stop_the_benchmark() -> None:
    engine = Engine()
    release = threading.Event()
    seen: list[bool] = []

    def blocker(gate: Gate) -> None:
        release.wait(5)
        seen.append(gate.clear())

    try:
        work = asyncio.create_task(engine.run_benchmark(blocker))
        await asyncio.sleep(0.05)
        call = asyncio.create_task(engine.load("a", Path("/nonexistent/bundle.tar"), V, "litert"))
        await asyncio.sleep(0.05)
        call.cancel()  # the client gave up while the benchmark held the thread
        await asyncio.sleep(0.05)
        release.set()
        await work
        assert seen == [True]  # nothing waits any more: the benchmark may go on
    finally:
        engine.close()
