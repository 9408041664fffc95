"""The active model and its inference, run in one dedicated thread (never on the event loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.agent.runtime import Model, RuntimeName, load_model
from edgefleet.agent.slots import VariantInfo
from edgefleet.core.bundle import Bundle, SelfTestResult, open_bundle, run_self_test
from edgefleet.core.errors import FailedPrecondition, InvalidArgument

__all__ = ["Engine", "InferenceStats", "Loaded", "Prediction", "WindowStats", "check_input_dtype"]


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


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What happened since the previous window."""

    inferences: int
    errors: int
    labelled: int
    correct: int
    cpu_seconds: float
    latencies: tuple[float, ...]


@dataclass
class InferenceStats:
    """Counters since start plus the current window; the inference thread writes under the lock."""

    inferences: int = 0
    errors: int = 0
    labelled: int = 0
    correct: int = 0
    cpu_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Told about every recorded latency (metrics); called in the inference thread.
    on_latencies: Callable[[Sequence[float]], None] | None = None
    _window: list[float] = field(default_factory=list)
    _marks: tuple[int, int, int, int, float] = (0, 0, 0, 0, 0.0)

    def record(self, n: int, latency_s: float, cpu_s: float = 0.0) -> None:
        with self.lock:
            self.inferences += n
            self.cpu_seconds += cpu_s
            if len(self._window) < 1_000_000:
                self._window.append(latency_s)
        if self.on_latencies is not None:
            self.on_latencies((latency_s,))

    def record_many(self, latencies: list[float], cpu_s: float, correct: int) -> None:
        """A replay or canary chunk: one lock acquisition for the whole chunk."""
        with self.lock:
            n = len(latencies)
            self.inferences += n
            self.cpu_seconds += cpu_s
            self.labelled += n
            self.correct += correct
            if len(self._window) < 1_000_000:
                self._window.extend(latencies)
        if self.on_latencies is not None:
            self.on_latencies(latencies)

    def take_window(self) -> WindowStats:
        with self.lock:
            i, e, lab, c, cpu = self._marks
            out = WindowStats(
                self.inferences - i,
                self.errors - e,
                self.labelled - lab,
                self.correct - c,
                self.cpu_seconds - cpu,
                tuple(self._window),
            )
            self._marks = (self.inferences, self.errors, self.labelled, self.correct, self.cpu_seconds)
            self._window = []
        return out

    def record_error(self) -> None:
        with self.lock:
            self.errors += 1

    def record_labels(self, correct: int, labelled: int) -> None:
        with self.lock:
            self.correct += correct
            self.labelled += labelled


def check_input_dtype(x: npt.NDArray[Any], model_dtype: str) -> None:
    """Float32 (quantized on the way in when the model takes integers) or the model's own input dtype;
    anything else would be reinterpreted silently (int8 codes read as floats), so it is refused."""
    given = np.dtype(x.dtype).name
    if given not in ("float32", model_dtype):
        raise InvalidArgument(
            f"input dtype {given} does not match the model's input dtype {model_dtype}: send float32 "
            f"(quantized here when the model needs it) or {model_dtype}"
        )


class Engine:
    def __init__(self, *, threads: int = 1) -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self.current: Loaded | None = None
        self.stats = InferenceStats()

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _load(self, slot: str, path: Path, variant: VariantInfo, runtime: str) -> Loaded:
        bundle = open_bundle(path)
        kind: RuntimeName = "tflite-micro" if runtime == "tflite-micro" else "litert"
        model = load_model(bundle.model, runtime=kind, threads=self.threads, source=f"slot {slot}")
        return Loaded(slot, variant, model, bundle, str(model.runtime))

    async def load(self, slot: str, path: Path, variant: VariantInfo, runtime: str) -> Loaded:
        """Open the bundle and load its model (raises with the runtime's message when it cannot)."""
        loaded: Loaded = await self._run(self._load, slot, path, variant, runtime)
        return loaded

    async def self_test(self, loaded: Loaded) -> SelfTestResult:
        result: SelfTestResult = await self._run(run_self_test, loaded.model.classify, loaded.bundle)
        return result

    def serve(self, loaded: Loaded | None) -> None:
        """Switch what Predict and replay use (a reference swap: in-flight calls finish on the old model)."""
        self.current = loaded

    def _predict(self, loaded: Loaded, x: npt.NDArray[Any]) -> Prediction:
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
        samples, model = loaded.bundle.samples, loaded.model
        native = model.input.to_native(samples.x)  # quantize the bundled samples once, not per inference
        latencies: list[float] = []
        correct = 0
        c0 = time.thread_time()
        try:
            for k in range(count):
                i = (start + k) % len(samples)
                t0 = time.perf_counter()
                out = model.invoke_raw(native[i : i + 1])
                latencies.append(time.perf_counter() - t0)
                correct += int(np.argmax(out) == samples.y[i])
        except Exception:
            self.stats.record_error()
            raise
        finally:
            self.stats.record_many(latencies, time.thread_time() - c0, correct)
        return count

    async def replay_chunk(self, start: int, count: int) -> int:
        """``count`` inferences over the bundled samples from index ``start``, in one thread handoff."""
        loaded = self.current
        if loaded is None:
            return 0
        done: int = await self._run(self._replay, loaded, start, count)
        return done

    async def predict(self, x: npt.NDArray[Any]) -> Prediction:
        loaded = self.current
        if loaded is None:
            raise FailedPrecondition("no model is installed on this device yet")
        check_input_dtype(x, loaded.model.input.dtype)
        prediction: Prediction = await self._run(self._predict, loaded, x)
        return prediction

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
