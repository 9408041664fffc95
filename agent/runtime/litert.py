"""LiteRT backend: ``ai_edge_litert`` first, ``tflite_runtime`` where only that exists.

``tflite-runtime`` 2.14 (2023) is what old device images carry: it needs
numpy<2 and refuses ops from current converters. It is still supported, and a
model it cannot load is a :class:`ModelLoadError` with its own message.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy.typing as npt

from edgefleet.agent.runtime.model import Model
from edgefleet.agent.runtime.stderr_capture import captured_stderr
from edgefleet.agent.runtime.tensors import RuntimeInfo, spec_from_details
from edgefleet.core.errors import ModelLoadError, RuntimeUnavailable

__all__ = ["CANDIDATES", "LiteRTModel", "import_interpreter", "load_litert"]

log = logging.getLogger("edgefleet.agent.runtime")

#: Tried in order: (import path of the interpreter module, distribution name).
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
)


@dataclass(frozen=True, slots=True)
class _Interp:
    module: ModuleType
    info: RuntimeInfo


def import_interpreter() -> _Interp:
    """Import the first available LiteRT interpreter module and say which it is."""
    failures = []
    for module_name, dist in CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            failures.append(f"{module_name}: {exc}")
            continue
        return _Interp(module, RuntimeInfo(dist, _version(dist, module_name)))
    raise RuntimeUnavailable(
        "no LiteRT runtime is installed (pip install ai-edge-litert, or tflite-runtime on old "
        "images): " + "; ".join(failures)
    )


def _version(dist: str, module_name: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        top = importlib.import_module(module_name.split(".")[0])
        return str(getattr(top, "__version__", "unknown"))


class LiteRTModel(Model):
    def __init__(self, interpreter: Any, info: RuntimeInfo) -> None:
        inputs = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(
                f"edgefleet serves single-input single-output models; this one has "
                f"{len(inputs)} inputs and {len(outputs)} outputs"
            )
        super().__init__(
            runtime=info, input_spec=spec_from_details(inputs[0]), output_spec=spec_from_details(outputs[0])
        )
        self._interpreter = interpreter
        self._in = inputs[0]["index"]
        self._out = outputs[0]["index"]

    def _invoke(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        self._interpreter.set_tensor(self._in, x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out).copy()  # type: ignore[no-any-return]


def load_litert(
    model: bytes | Path, *, threads: int = 1, default_delegates: bool = True, source: str = ""
) -> LiteRTModel:
    """Load and allocate a model. ``default_delegates=False`` shows the real ops (no XNNPACK rewrite)."""
    interp = import_interpreter()
    where = source or (str(model) if isinstance(model, Path) else "<bytes>")
    kwargs: dict[str, Any] = {"num_threads": threads}
    if isinstance(model, Path):
        kwargs["model_path"] = str(model)
    else:
        if not model:
            raise ModelLoadError(f"{where}: empty model")
        kwargs["model_content"] = bytes(model)
    resolver = getattr(interp.module, "OpResolverType", None)
    if not default_delegates and resolver is not None:
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    native: list[str] = []
    try:
        # LiteRT's native logger writes INFO lines to fd 2 ("Created TensorFlow Lite XNNPACK delegate for
        # CPU."), which TF_CPP_MIN_LOG_LEVEL does not quiet: capture fd 2 around the load.
        with captured_stderr() as native:
            interpreter = interp.module.Interpreter(**kwargs)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{where}: {interp.info} cannot load the model: {exc}") from exc
    finally:
        _route_native_output("".join(native), where)
    return LiteRTModel(interpreter, interp.info)


def _route_native_output(text: str, where: str) -> None:
    """LiteRT's INFO lines go to the debug log; anything else fd 2 received meanwhile (a native warning or
    error, another thread's line) goes back to stderr as it was."""
    others = []
    for line in text.splitlines(keepends=True):
        if line.startswith("INFO: "):
            log.debug("%s: %s", where, line.rstrip())
        else:
            others.append(line)
    if others:
        sys.stderr.write("".join(others))
        sys.stderr.flush()
