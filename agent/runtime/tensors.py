"""Tensor specs and the quantize/dequantize arithmetic, from each tensor's own parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.core.errors import InvalidArgument

__all__ = ["RuntimeInfo", "TensorSpec", "spec_from_details"]

_INTEGER_DTYPES = ("int8", "uint8", "int16")


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """Which runtime runs a model: ``ai-edge-litert``, ``tflite-runtime`` or ``tflite-micro``."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One model input or output. ``scale == 0`` means the tensor is not quantized."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.dtype in _INTEGER_DTYPES and self.scale > 0.0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample (the batch dimension dropped)."""
        return self.shape[1:]

    def to_native(self, x: npt.ArrayLike) -> npt.NDArray[Any]:
        """Convert one batch to this tensor's dtype; float input is quantized when the tensor is."""
        arr = np.asarray(x)
        if arr.dtype == np.dtype(self.dtype):
            return arr
        if self.quantized and arr.dtype.kind == "f":
            info = np.iinfo(np.dtype(self.dtype))
            scaled = arr.astype(np.float64) / self.scale
            # TFLite rounds half away from zero (std::round), not half to even like np.round.
            q = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + self.zero_point
            clipped: npt.NDArray[Any] = np.clip(q, info.min, info.max).astype(self.dtype)
            return clipped
        if np.dtype(self.dtype).kind == "f" and arr.dtype.kind in "fiu":
            return arr.astype(self.dtype)
        raise InvalidArgument(
            f"input dtype {arr.dtype} does not match tensor '{self.name}' of dtype {self.dtype}"
        )

    def to_float(self, arr: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """Dequantize (or pass through) an output of this tensor."""
        if self.quantized:
            return ((arr.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)
        return arr.astype(np.float32, copy=False)

    def check_batch(self, x: npt.NDArray[Any]) -> None:
        if x.ndim != len(self.shape) or tuple(x.shape[1:]) != self.sample_shape:
            raise InvalidArgument(
                f"input shape {list(x.shape)} does not match the model's input '{self.name}' "
                f"{list(self.shape)} (any batch size, sample shape {list(self.sample_shape)})"
            )


def spec_from_details(details: dict[str, Any]) -> TensorSpec:
    """Build a spec from a LiteRT or TFLM tensor-details dict."""
    quant = details.get("quantization_parameters") or {}
    scales = np.asarray(quant.get("scales", []), dtype=np.float64)
    zero_points = np.asarray(quant.get("zero_points", []), dtype=np.int64)
    # Inputs and outputs are per-tensor quantized; per-axis applies to weights only.
    scale = float(scales[0]) if scales.size else 0.0
    zero_point = int(zero_points[0]) if zero_points.size else 0
    return TensorSpec(
        name=str(details.get("name", "")),
        shape=tuple(int(d) for d in details["shape"]),
        dtype=np.dtype(details["dtype"]).name,
        scale=scale,
        zero_point=zero_point,
    )
