"""The local Inference API's protobuf edge, shared by its two transports (gRPC and the framed socket):
a request's tensor to an array (checked), an answer to a PredictResponse."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from edgefleet.agent.connection.wire import variant_pb
from edgefleet.agent.workload.frames import MAX_INPUT_BYTES
from edgefleet.agent.workload.inference import Answer
from edgefleet.core.errors import InvalidArgument
from edgefleet.v1 import inference_pb2

__all__ = ["MAX_INPUT_BYTES", "TENSOR_DTYPES", "decode_tensor", "predict_response"]

TENSOR_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}


def decode_tensor(t: inference_pb2.Tensor) -> npt.NDArray[Any]:
    if t.dtype not in TENSOR_DTYPES:
        raise InvalidArgument(f"tensor dtype {t.dtype!r} is not one of {sorted(TENSOR_DTYPES)}")
    if not t.shape or any(d == 0 for d in t.shape):
        raise InvalidArgument(f"tensor shape {list(t.shape)} must be non-empty with no zero dimension")
    itemsize = np.dtype(TENSOR_DTYPES[t.dtype]).itemsize
    expected = math.prod(t.shape) * itemsize
    if expected > MAX_INPUT_BYTES:
        raise InvalidArgument(f"tensor of {expected} bytes exceeds {MAX_INPUT_BYTES} bytes")
    if len(t.data) != expected:
        raise InvalidArgument(
            f"tensor data is {len(t.data)} bytes, shape {list(t.shape)} x {t.dtype} needs {expected}"
        )
    return np.frombuffer(t.data, dtype=TENSOR_DTYPES[t.dtype]).reshape(tuple(t.shape))


def predict_response(answer: Answer) -> inference_pb2.PredictResponse:
    prediction = answer.prediction
    out = prediction.scores.astype(np.float32)
    classes = [int(c) for c in prediction.classes]
    labels = answer.labels
    return inference_pb2.PredictResponse(
        request_id=answer.request_id,
        scores=inference_pb2.Tensor(shape=list(out.shape), dtype="float32", data=out.tobytes()),
        classes=classes,
        labels=[labels[c] if c < len(labels) else str(c) for c in classes],
        variant=variant_pb(prediction.variant),
        latency_seconds=prediction.latency_s,
    )
