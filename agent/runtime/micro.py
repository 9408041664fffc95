"""TFLite Micro backend (the ``tflite-micro`` package runs TFLM on the host).

Used for MCU-class profiles: it runs only what a microcontroller would (no
hybrid models, TFLM's op set) and reports the exact arena (head + tail).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt

from edgefleet.agent.runtime.litert import import_interpreter
from edgefleet.agent.runtime.model import Model
from edgefleet.agent.runtime.stderr_capture import captured_stderr
from edgefleet.agent.runtime.tensors import RuntimeInfo, spec_from_details
from edgefleet.core.errors import ModelLoadError, RuntimeUnavailable

__all__ = ["ArenaUsage", "MicroModel", "load_micro", "micro_runtime_info"]

_ARENA_RE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_FIRST_ARENA = 64 * 1024
_MAX_ARENA = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArenaUsage:
    """TFLM tensor arena use after an invoke: head (activations, scratch) + tail (persistent)."""

    total: int
    head: int
    tail: int


def _runtime_module() -> Any:
    try:
        return importlib.import_module("tflite_micro.python.tflite_micro.runtime")
    except ImportError as exc:
        raise RuntimeUnavailable(f"TFLite Micro is not installed (pip install tflite-micro): {exc}") from exc


def micro_runtime_info() -> RuntimeInfo:
    _runtime_module()
    top = importlib.import_module("tflite_micro")
    return RuntimeInfo("tflite-micro", str(getattr(top, "__version__", "unknown")))


class MicroModel(Model):
    def __init__(self, interpreter: Any, info: RuntimeInfo, arena_size: int) -> None:
        super().__init__(
            runtime=info,
            input_spec=spec_from_details(interpreter.get_input_details(0)),
            output_spec=spec_from_details(interpreter.get_output_details(0)),
        )
        self._interpreter = interpreter
        self.arena_size = arena_size
        self._invoked = False

    def _invoke(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        self._interpreter.set_input(x, 0)
        self._interpreter.invoke()
        self._invoked = True
        return self._interpreter.get_output(0).copy()  # type: ignore[no-any-return]

    def arena(self) -> ArenaUsage:
        """The recorded arena use (runs one zero inference first if none ran yet)."""
        import numpy as np

        with self._lock:
            if not self._invoked:
                self._invoke(np.zeros(self.input.shape, dtype=self.input.dtype))
            with captured_stderr() as text:
                self._interpreter.print_allocations()
        found = {kind: int(n) for kind, n in _ARENA_RE.findall(text[0])}
        if set(found) != {"total", "head", "tail"}:
            raise ModelLoadError(f"TFLite Micro did not report its arena: {text[0][:300]!r}")
        return ArenaUsage(total=found["total"], head=found["head"], tail=found["tail"])


def _arena_too_small(text: str) -> bool:
    lowered = text.lower()
    return "failed to resize buffer" in lowered or ("arena" in lowered and "size" in lowered)


def _reason(exc: Exception, text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "RecordingMicroAllocator" not in ln]
    detail = " | ".join(dict.fromkeys(lines))  # de-duplicated, in order
    return f"{detail} ({exc})" if detail else str(exc)


def load_micro(model: bytes | Path, *, arena_size: int | None = None, source: str = "") -> MicroModel:
    """Load a model under TFLite Micro, growing the arena until it fits (up to 64 MiB).

    The flatbuffer is verified by LiteRT first when it is installed: TFLM's
    own parser does not verify and a corrupt buffer could crash the process.
    """
    runtime = _runtime_module()
    info = micro_runtime_info()
    where = source or (str(model) if isinstance(model, Path) else "<bytes>")
    data = model.read_bytes() if isinstance(model, Path) else bytes(model)
    if not data:
        raise ModelLoadError(f"{where}: empty model")
    try:
        verifier = import_interpreter()
    except RuntimeUnavailable:
        verifier = None
    if verifier is not None:
        try:
            verifier.module.Interpreter(model_content=data)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{where}: not a valid TFLite model: {exc}") from exc
    size = arena_size or max(_FIRST_ARENA, 4 * len(data))
    while True:
        with captured_stderr() as text:
            try:
                interpreter = runtime.Interpreter.from_bytes(data, arena_size=size)
                error: Exception | None = None
            except (RuntimeError, ValueError, Exception) as exc:  # TFLM raises plain Exception too
                error = exc
        if error is None:
            return MicroModel(interpreter, info, size)
        message = text[0]
        if arena_size is None and _arena_too_small(message + str(error)) and size < _MAX_ARENA:
            size *= 4
            continue
        raise ModelLoadError(
            f"{where}: TFLite Micro cannot run the model: {_reason(error, message)}"
        ) from error
