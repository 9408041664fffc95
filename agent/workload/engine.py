"""The active model and its inference, run in one dedicated thread (never on the event loop).

Serving comes first: Predict, replay, the canary and deployment work (load, self-test) are "serving" calls;
benchmark work runs on the same thread in chunks that ask a ``Gate`` before every inference and return as
soon as a serving call waits. The thread's executor is first-in first-out and a benchmark queues its next
chunk only after the previous one returned, so the waiting call runs next: it waits for at most the one
benchmark inference that was running when it arrived. ``longest_wait`` records the most benchmark
inferences any serving call waited through (the tests check it stays at most 1).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from edgefleet.agent.runtime import Model, RuntimeName, load_model
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.stats import InferenceStats
from edgefleet.core.bundle import Bundle, SelfTestResult, open_bundle, run_self_test
from edgefleet.core.errors import FailedPrecondition, InvalidArgument

__all__ = ["Engine", "Gate", "Loaded", "Prediction", "check_input_dtype"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Loaded:
    slot: str
    variant: VariantInfo
    model: Model
    bundle: Bundle
    runtime: str


@dataclass(frozen=True, slots=True)
class Prediction:
    scores: npt.NDArray[np.float32]
    classes: npt.NDArray[np.int64]
    latency_s: float
    variant: VariantInfo


_FLOAT32 = np.dtype(np.float32)


def check_input_dtype(x: npt.NDArray[Any], model_dtype: str) -> None:
    """Float32 (quantized on the way in when the model takes integers) or the model's own input dtype;
    anything else would be reinterpreted silently (int8 codes read as floats), so it is refused."""
    if x.dtype == _FLOAT32 or x.dtype == model_dtype:  # a dtype compares equal to its name
        return
    given = x.dtype.name
    if given not in ("float32", model_dtype):
        raise InvalidArgument(
            f"input dtype {given} does not match the model's input dtype {model_dtype}: send float32 "
            f"(quantized here when the model needs it) or {model_dtype}"
        )


class _Serving:
    """Serving calls handed to the inference thread and started there. Each counter has one writer (the
    event loop submits, the inference thread starts; a local-socket Predict runs on its own thread and is
    never submitted), so no lock is needed to compare them."""

    def __init__(self) -> None:
        self.submitted = 0
        #: Serving calls cancelled before they started (a Predict whose client gave up): event loop only.
        self.withdrawn = 0
        self.started = 0
        #: Benchmark inferences finished on the inference thread (its only writer).
        self.benchmark_done = 0
        self.longest_wait = 0


class Gate:
    """Handed to benchmark work on the inference thread: ``clear()`` before each inference (False: serving
    work waits, return now), ``ran()`` after it, ``ended(n)`` when the chunk of ``n`` inferences returns."""

    def __init__(self, serving: _Serving, stats: InferenceStats) -> None:
        self._serving = serving
        self._stats = stats

    def clear(self) -> bool:
        serving = self._serving
        return serving.started + serving.withdrawn >= serving.submitted

    def ran(self) -> None:
        self._serving.benchmark_done += 1

    def ended(self, n: int) -> None:
        self._stats.record_benchmark(n)


class Engine:
    def __init__(self, *, threads: int = 1) -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.current: Loaded | None = None
        self.stats = InferenceStats()
        self._serving = _Serving()
        self._gate = Gate(self._serving, self.stats)
        #: Held while a serving model's interpreter runs (Predict, replay, the canary), on the inference
        #: thread or on a local-socket thread (``predict_inline``): an interpreter is not thread-safe.
        self._model_lock = threading.Lock()

    @property
    def longest_wait(self) -> int:
        """The most benchmark inferences a serving call has waited through (at most 1 by design)."""
        return self._serving.longest_wait

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """A serving call: it goes ahead of any benchmark chunk not yet queued."""
        serving = self._serving
        mark = serving.benchmark_done

        def call() -> T:
            serving.started += 1
            serving.longest_wait = max(serving.longest_wait, serving.benchmark_done - mark)
            return fn(*args)

        def withdrawn(future: Future[T]) -> None:
            if future.cancelled():
                serving.withdrawn += 1

        serving.submitted += 1
        future = self._executor.submit(call)
        future.add_done_callback(withdrawn)
        return await asyncio.wrap_future(future)

    async def run_benchmark(self, work: Callable[[Gate], T]) -> T:
        """Benchmark work on the inference thread; it asks the gate before each inference and returns when
        serving work waits (see the module's docstring)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, self._gate)

    def _load(self, slot: str, path: Path, variant: VariantInfo, runtime: str) -> Loaded:
        bundle = open_bundle(path)
        kind: RuntimeName = "tflite-micro" if runtime == "tflite-micro" else "litert"
        model = load_model(bundle.model, runtime=kind, threads=self.threads, source=f"slot {slot}")
        return Loaded(slot, variant, model, bundle, str(model.runtime))

    async def load(self, slot: str, path: Path, variant: VariantInfo, runtime: str) -> Loaded:
        """Open the bundle and load its model (raises with the runtime's message when it cannot)."""
        return await self._run(self._load, slot, path, variant, runtime)

    async def self_test(self, loaded: Loaded) -> SelfTestResult:
        return await self._run(run_self_test, loaded.model.classify, loaded.bundle)

    def serve(self, loaded: Loaded | None) -> None:
        """Switch what Predict and replay use (a reference swap: in-flight calls finish on the old model)."""
        self.current = loaded

    def _predict(self, loaded: Loaded, x: npt.NDArray[Any]) -> Prediction:
        with self._model_lock:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                scores = loaded.model.predict(x)
            except Exception:
                self.stats.record_error()
                raise
            latency = time.perf_counter() - t0
            self.stats.record(len(x), latency, time.thread_time() - c0)
        classes = np.argmax(scores.reshape(len(scores), -1), axis=1).astype(np.int64)
        return Prediction(scores, classes, latency, loaded.variant)

    def _replay(self, loaded: Loaded, start: int, count: int) -> int:
        with self._model_lock:  # once per chunk: nothing added per inference
            return self._replay_locked(loaded, start, count)

    def _replay_locked(self, loaded: Loaded, start: int, count: int) -> int:
        samples, model = loaded.bundle.samples, loaded.model
        native = model.input.to_native(samples.x)  # quantize the bundled samples once, not per inference
        latencies: list[float] = []
        indices: list[int] = []
        right: list[bool] = []
        c0 = time.thread_time()
        try:
            for k in range(count):
                i = (start + k) % len(samples)
                t0 = time.perf_counter()
                out = model.invoke_raw(native[i : i + 1])
                latencies.append(time.perf_counter() - t0)
                indices.append(i)
                right.append(bool(np.argmax(out) == samples.y[i]))
        except Exception:
            self.stats.record_error()
            raise
        finally:
            coverage = (loaded.variant.variant_id, len(samples), indices, right)
            self.stats.record_many(latencies, time.thread_time() - c0, sum(right), samples=coverage)
        return count

    async def replay_chunk(self, start: int, count: int) -> int:
        """``count`` inferences over the bundled samples from index ``start``, in one thread handoff."""
        loaded = self.current
        if loaded is None:
            return 0
        return await self._run(self._replay, loaded, start, count)

    def _checked(self, x: npt.NDArray[Any]) -> Loaded:
        loaded = self.current
        if loaded is None:
            raise FailedPrecondition("no model is installed on this device yet")
        check_input_dtype(x, loaded.model.input.dtype)
        return loaded

    async def predict(self, x: npt.NDArray[Any]) -> Prediction:
        loaded = self._checked(x)
        return await self._run(self._predict, loaded, x)

    def predict_inline(self, x: npt.NDArray[Any]) -> Prediction:
        """``predict`` on the calling thread (a local-socket connection's): no hand-off to the inference
        thread and back, which costs two thread wake-ups (~0.1-0.15 ms on a small CPU, more than the
        inference); the model lock keeps the interpreter to one inference at a time."""
        return self._predict(self._checked(x), x)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
