"""The model interface every runtime backend implements."""

from __future__ import annotations

import abc
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.agent.runtime.tensors import RuntimeInfo, TensorSpec

__all__ = ["Model"]


class Model(abc.ABC):
    """A loaded single-input, single-output model.

    ``predict`` takes float (or already-native) samples of any batch size and
    returns float scores; integer inputs and outputs are quantized and
    dequantized from the tensors' own parameters. Calls are serialized per model
    (interpreters are not thread-safe); run them in an executor from asyncio code.
    """

    def __init__(self, *, runtime: RuntimeInfo, input_spec: TensorSpec, output_spec: TensorSpec) -> None:
        self.runtime = runtime
        self.input = input_spec
        self.output = output_spec
        self._lock = threading.Lock()

    @abc.abstractmethod
    def _invoke(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Run one model batch (shape == input.shape) in native dtypes; return the raw output."""

    def invoke_raw(self, x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Run exactly one model batch in native dtypes (for benchmarks and self-tests)."""
        with self._lock:
            return self._invoke(x)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Scores for each sample of ``x`` (shape ``[N, *input.sample_shape]``), as float32 ``[N, ...]``."""
        arr = np.asarray(x)
        self.input.check_batch(arr)
        native = self.input.to_native(arr)
        step = self.input.shape[0] if self.input.shape[0] > 0 else len(native)
        rows = []
        with self._lock:
            for start in range(0, len(native), step):
                chunk = native[start : start + step]
                if len(chunk) < step:  # pad the last fixed-size batch
                    pad = np.zeros((step - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                    out = self._invoke(np.concatenate([chunk, pad]))[: len(chunk)]
                else:
                    out = self._invoke(chunk)
                rows.append(self.output.to_float(out))
        if not rows:
            return np.zeros((0, *self.output.sample_shape), dtype=np.float32)
        return np.concatenate(rows)

    def classify(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Arg-max class per sample."""
        scores = self.predict(x)
        classes: npt.NDArray[np.int64] = np.argmax(scores.reshape(len(scores), -1), axis=1).astype(np.int64)
        return classes

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release native resources (optional)."""
