"""Runtime probes of untrusted models run in a child process.

TFLite Micro (and any native runtime) can crash the whole process on a crafted or corrupted .tflite:
a fuzzed model made ours die with SIGSEGV and SIGFPE inside TFLM. The orchestrator loads models that
users upload, so those probes run in a long-lived helper process; if it dies, the model is refused
with the signal named, a fresh helper is started, and the orchestrator keeps serving.

The helper dies with the orchestrator, however the orchestrator dies (SIGKILL included, where no
shutdown code runs): see :mod:`edgefleet.orchestrator.variants.lifeline`. Linux sends the parent-death
signal when the *thread* that started the child exits, so every helper is started by one thread that
lives as long as the runner (never by a request's worker thread).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from edgefleet.core.errors import ModelLoadError, Unavailable
from edgefleet.orchestrator.variants.lifeline import die_with_parent

__all__ = ["IsolatedRunner", "isolated"]

T = TypeVar("T")
TIMEOUT_S = 300.0


class IsolatedRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        # One thread, alive until close(): it starts every helper (see the module's docstring).
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgefleet-isolation")

    @staticmethod
    def _start_pool() -> ProcessPoolExecutor:
        """A pool whose one helper is already running (started on this thread, the starter)."""
        pool = ProcessPoolExecutor(
            max_workers=1,
            # spawn: a fork of a process with gRPC threads is not safe
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        try:  # the first task starts the helper; later submits find it idle and start nothing
            pool.submit(os.getpid).result(timeout=TIMEOUT_S)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return pool

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                try:
                    self._pool = self._starter.submit(self._start_pool).result()
                except BrokenProcessPool as exc:
                    raise Unavailable("the isolated helper process for model probes did not start") from exc
            return self._pool

    def _reset(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def run(self, fn: Callable[..., T], *args: Any, what: str) -> T:
        pool = self._get()
        try:
            return pool.submit(fn, *args).result(timeout=TIMEOUT_S)
        except BrokenProcessPool as exc:
            self._reset(pool)
            raise ModelLoadError(
                f"{what}: the model crashed the runtime (the isolated helper process died); refused"
            ) from exc

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._starter.shutdown(wait=True)


_RUNNER: IsolatedRunner | None = None
_RUNNER_LOCK = threading.Lock()


def isolated() -> IsolatedRunner:
    """The process's runner (created on first use; nothing starts at import)."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = IsolatedRunner()
        return _RUNNER
