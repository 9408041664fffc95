"""Running a candidate on the inference thread, Predict first: loading it (off the inference thread), scoring
its samples once, warming it up, and measuring one turn with a meter of its own.

Every inference goes through the engine's ``Gate``: a chunk stops before the next inference as soon as a
serving call (Predict, replay, the canary, a deployment's self-test) waits, and the next chunk is queued only
after that call (see ``workload.engine``). Meter reads run on the disk thread, like the telemetry window's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.energy.meters import EnergyReading, Meter, WindowContext
from edgefleet.agent.runtime import Model, RuntimeName, load_model
from edgefleet.agent.workload.benchmark.figures import Turn
from edgefleet.agent.workload.engine import Engine, Gate
from edgefleet.core.bundle import Bundle, Manifest, open_bundle

__all__ = ["CHUNK", "WARMUP", "Loaded", "TurnOutcome", "load", "measure_turn", "score_all", "warm_up"]

#: Most inferences per hand-off while scoring the samples (a turn's chunks run to the turn's end instead);
#: any chunk ends as soon as serving work waits.
CHUNK = 64
#: Seconds between resident-memory samples during a turn.
RSS_PERIOD = 0.05
#: Unmeasured inferences after each load (first-call allocation and caches).
WARMUP = 3


@functools.cache
def _process() -> psutil.Process:
    return psutil.Process()


def _rss() -> int:
    return int(_process().memory_info().rss)


@dataclass
class Loaded:
    """A candidate's model, loaded for one turn (or its self-test) and released after it."""

    model: Model
    bundle: Bundle
    #: The bundled samples in the model's input dtype (quantized once).
    native: npt.NDArray[Any]
    #: Next sample to feed (turns cycle through the samples).
    position: int = 0
    peak_rss: int = field(default_factory=_rss)

    @property
    def manifest(self) -> Manifest:
        return self.bundle.manifest

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self.bundle.samples.y


def _load(path: Path, runtime: str, threads: int) -> Loaded:
    bundle = open_bundle(path)
    kind: RuntimeName = "tflite-micro" if runtime == "tflite-micro" else "litert"
    model = load_model(bundle.model, runtime=kind, threads=threads, source=f"candidate {path.stem[:12]}")
    return Loaded(model, bundle, model.input.to_native(bundle.samples.x))


async def load(path: Path, runtime: str, threads: int) -> Loaded:
    """Open and load off the inference thread (loading is not inference: Predict never waits for it)."""
    return await asyncio.to_thread(_load, path, runtime, threads)


@dataclass(frozen=True, slots=True)
class _Chunk:
    latencies: list[float]
    cpu_seconds: float
    classes: list[int]
    rss: int


def _run_chunk(loaded: Loaded, count: int, until: float, keep: bool, gate: Gate) -> _Chunk:
    """Inference thread: up to ``count`` inferences over the samples, back to back, stopping at ``until``
    (perf_counter) or as soon as serving work waits (the gate is asked before every inference, so a chunk
    may run the whole turn: hand-offs between chunks would leave the thread idle and charge that idle time
    to the candidate). The resident memory is sampled every ``RSS_PERIOD`` seconds."""
    model, native = loaded.model, loaded.native
    latencies: list[float] = []
    classes: list[int] = []
    peak = 0
    c0, now = time.thread_time(), time.perf_counter()
    rss_at = now + RSS_PERIOD
    try:
        for _ in range(count):
            if now >= until or not gate.clear():
                break
            i = loaded.position % len(native)
            t0 = time.perf_counter()
            out = model.invoke_raw(native[i : i + 1])
            now = time.perf_counter()
            latencies.append(now - t0)
            gate.ran()
            loaded.position += 1
            if keep:
                classes.append(int(np.argmax(out)))
            if now >= rss_at:
                peak, rss_at = max(peak, _rss()), now + RSS_PERIOD
    finally:
        gate.ended(len(latencies))
    cpu = time.thread_time() - c0
    return _Chunk(latencies, cpu, classes, max(peak, _rss()))


async def _chunk(engine: Engine, loaded: Loaded, count: int, until: float, keep: bool = False) -> _Chunk:
    chunk = await engine.run_benchmark(functools.partial(_run_chunk, loaded, count, until, keep))
    loaded.peak_rss = max(loaded.peak_rss, chunk.rss)
    return chunk


async def score_all(engine: Engine, loaded: Loaded) -> npt.NDArray[np.int64]:
    """The class the candidate gives each bundled sample, each scored once (the self-test and accuracy)."""
    loaded.position = 0
    classes: list[int] = []
    while len(classes) < len(loaded.native):
        left = len(loaded.native) - len(classes)
        classes += (await _chunk(engine, loaded, min(CHUNK, left), math.inf, keep=True)).classes
    return np.asarray(classes, dtype=np.int64)


async def warm_up(engine: Engine, loaded: Loaded) -> None:
    done = 0
    while done < WARMUP:
        done += len((await _chunk(engine, loaded, WARMUP - done, math.inf)).latencies)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    turn: Turn
    latencies: tuple[float, ...]
    kind: str
    method: str


def _system_busy() -> float:
    """CPU seconds the whole system spent busy so far (all cores; guest time is already in user time)."""
    t = psutil.cpu_times()
    return float(sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")))


def _begin(meter: Meter, system: bool) -> float:
    meter.begin(time.monotonic_ns())
    return _system_busy() if system else 0.0


def _end(meter: Meter, ctx: WindowContext, system: bool) -> tuple[EnergyReading, float]:
    reading = meter.end(time.monotonic_ns(), ctx)
    return reading, _system_busy() if system else 0.0


async def _sample(disk: DiskExecutor, meter: Meter) -> None:
    period = 1.0 / meter.sample_hz
    while True:
        await asyncio.sleep(period)
        await disk.run(lambda: meter.sample(time.monotonic_ns()))


async def measure_turn(
    engine: Engine,
    disk: DiskExecutor,
    meter: Meter,
    loaded: Loaded | None,
    *,
    seconds: float,
    stop_at: float,
    idle_watts: Callable[[], float | None],
    clock: Callable[[], float] = time.monotonic,
    pace: float = 0.0,
) -> TurnOutcome | None:
    """One turn of ``seconds`` with a meter of its own (``loaded`` None: an idle turn, no inference).
    None when ``stop_at`` (the job's deadline, on ``clock``) comes first: a cut turn is not a turn.

    ``pace`` > 0: the candidate runs at that many inferences per second, each its own hand-off to the
    inference thread, as serving traffic arrives (what an inference costs depends on the cadence: between
    calls caches go cold, and at a hundred calls a second that, not the model's arithmetic, can be most of
    it); 0: back to back, in chunks that run until the turn ends or serving work waits."""
    if clock() + seconds > stop_at:
        return None
    estimated = meter.kind == "estimated"
    serving0 = engine.stats.totals()
    busy0 = await disk.run(_begin, meter, not estimated)
    sampler = asyncio.create_task(_sample(disk, meter)) if meter.sample_hz > 0 else None
    latencies: list[float] = []
    cpu = 0.0
    try:
        until = time.perf_counter() + seconds
        due = time.perf_counter()
        while (now := time.perf_counter()) < until:
            if loaded is None:
                await asyncio.sleep(min(0.05, max(0.0, until - now)))
                continue
            if pace > 0:
                if now < due:
                    await asyncio.sleep(min(due, until) - now)
                    continue
                due = max(due + 1.0 / pace, now - 1.0)  # never a burst of more than 1 s of backlog
            chunk = await _chunk(engine, loaded, 1 if pace > 0 else sys.maxsize, until)
            latencies += chunk.latencies
            cpu += chunk.cpu_seconds
    finally:
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    reading, busy1 = await disk.run(_end, meter, WindowContext(cpu, len(latencies)), not estimated)
    serving1 = engine.stats.totals()
    turn = Turn(
        inferences=len(latencies),
        joules=reading.joules,
        sigma_j=reading.sigma_j,
        seconds=reading.seconds,
        cpu_seconds=cpu,
        serving_inferences=serving1.inferences - serving0.inferences,
        serving_busy_s=serving1.busy_seconds - serving0.busy_seconds,
        system_busy_s=None if estimated else max(0.0, busy1 - busy0),
        idle_watts=idle_watts(),
        flags=reading.flags,
    )
    return TurnOutcome(turn, tuple(latencies), reading.kind, reading.method)
