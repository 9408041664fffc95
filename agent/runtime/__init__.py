"""One wrapper over the inference runtimes: LiteRT (or tflite-runtime) and TFLite Micro.

The agent runs models through it, and the orchestrator evaluates variants
through the same code, so host figures and device inference agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edgefleet.agent.runtime.litert import import_interpreter, load_litert
from edgefleet.agent.runtime.micro import ArenaUsage, MicroModel, load_micro, micro_runtime_info
from edgefleet.agent.runtime.model import Model
from edgefleet.agent.runtime.tensors import RuntimeInfo, TensorSpec
from edgefleet.core.errors import InvalidArgument
from edgefleet.core.fsutil import check_user_file

__all__ = [
    "ArenaUsage",
    "MicroModel",
    "Model",
    "RuntimeInfo",
    "RuntimeName",
    "TensorSpec",
    "load_model",
    "runtime_info",
]

RuntimeName = Literal["litert", "tflite-micro"]


def runtime_info(kind: RuntimeName = "litert") -> RuntimeInfo:
    """The runtime (name and version) that ``load_model(kind)`` would use here."""
    if kind == "tflite-micro":
        return micro_runtime_info()
    return import_interpreter().info


def load_model(
    model: bytes | Path | str,
    *,
    runtime: RuntimeName = "litert",
    threads: int = 1,
    default_delegates: bool = True,
    source: str = "",
) -> Model:
    """Load a .tflite model (path or bytes) under the named runtime.

    A model the runtime cannot load raises :class:`edgefleet.core.errors.ModelLoadError`
    with the runtime's own message; a missing runtime raises
    :class:`edgefleet.core.errors.RuntimeUnavailable`.
    """
    if isinstance(model, str):
        model = Path(model)
    if isinstance(model, Path):
        check_user_file(model, "model")  # missing, a directory, a device, empty, unreadable: said so
    if runtime == "tflite-micro":
        return load_micro(model, source=source)
    if runtime == "litert":
        return load_litert(model, threads=threads, default_delegates=default_delegates, source=source)
    raise InvalidArgument(f"unknown runtime {runtime!r}: expected 'litert' or 'tflite-micro'")
