"""The agent-local Inference API (Predict, Feedback) on a loopback port or a unix socket.

Bad input gets one clear status: bytes that are not protobuf, a tensor that does not decode, a dtype
that is not the model's, NaN, and Feedback labels outside the model's classes are INVALID_ARGUMENT. The
tensor converters (the local API's protobuf edge) live here too.
"""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import numpy as np
import numpy.typing as npt

from edgefleet.agent.connection.wire import variant_pb
from edgefleet.agent.slots import VariantInfo
from edgefleet.agent.workload.engine import Engine
from edgefleet.core.errors import EdgefleetError, InvalidArgument, NotFound
from edgefleet.core.grpc_guard import MalformedRequests
from edgefleet.core.rpc import status_of
from edgefleet.v1 import inference_pb2, inference_pb2_grpc

__all__ = ["MAX_INPUT_BYTES", "TENSOR_DTYPES", "InferenceServer", "decode_tensor", "predict_response"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]
_REMEMBERED = 10_000
TENSOR_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}
MAX_INPUT_BYTES = 16 * 1024 * 1024


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


def predict_response(
    *,
    request_id: str,
    scores: npt.NDArray[Any],
    classes: Sequence[int],
    labels: Sequence[str],
    variant: VariantInfo,
    latency_s: float,
) -> inference_pb2.PredictResponse:
    out = scores.astype(np.float32)
    return inference_pb2.PredictResponse(
        request_id=request_id,
        scores=inference_pb2.Tensor(shape=list(out.shape), dtype="float32", data=out.tobytes()),
        classes=[int(c) for c in classes],
        labels=[labels[c] if c < len(labels) else str(c) for c in classes],
        variant=variant_pb(variant),
        latency_seconds=latency_s,
    )


@dataclass(frozen=True, slots=True)
class _Answered:
    """What a Predict answered, kept for its Feedback."""

    classes: npt.NDArray[np.int64]
    #: How many classes the model scores (a label must be below it).
    num_classes: int


class _Servicer(inference_pb2_grpc.InferenceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._recent: OrderedDict[str, _Answered] = OrderedDict()

    async def Predict(
        self, request: inference_pb2.PredictRequest, context: Ctx
    ) -> inference_pb2.PredictResponse:
        try:
            x = decode_tensor(request.input)
            if np.dtype(x.dtype).kind == "f" and not np.isfinite(x).all():
                raise InvalidArgument("input contains NaN or infinite values")
            prediction = await self._engine.predict(x)
        except EdgefleetError as exc:
            await context.abort(status_of(exc), exc.message)
        request_id = request.request_id or uuid.uuid4().hex
        num_classes = int(prediction.scores.reshape(len(prediction.scores), -1).shape[1])
        self._recent[request_id] = _Answered(prediction.classes, num_classes)
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)
        labels = self._engine.current.bundle.manifest.labels if self._engine.current else ()
        return predict_response(
            request_id=request_id,
            scores=prediction.scores,
            classes=[int(c) for c in prediction.classes],
            labels=labels,
            variant=prediction.variant,
            latency_s=prediction.latency_s,
        )

    async def Feedback(
        self, request: inference_pb2.FeedbackRequest, context: Ctx
    ) -> inference_pb2.FeedbackResponse:
        answered = self._recent.get(request.request_id)
        if answered is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                NotFound(f"unknown or expired request id {request.request_id[:64]!r}").message,
            )
        problem = ""
        if len(request.labels) != len(answered.classes):
            problem = f"{len(request.labels)} labels for {len(answered.classes)} predictions"
        elif outside := sorted({int(y) for y in request.labels if y >= answered.num_classes}):
            problem = (
                f"label(s) {outside[:10]} outside the model's classes 0-{answered.num_classes - 1}: "
                "nothing was recorded"
            )
        if problem:  # the request id stays valid for a corrected Feedback
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        del self._recent[request.request_id]
        correct = [int(c) == int(y) for c, y in zip(answered.classes, request.labels, strict=True)]
        self._engine.stats.record_labels(sum(correct), len(correct))
        return inference_pb2.FeedbackResponse(correct=correct)


class InferenceServer:
    def __init__(self, engine: Engine, listen: str) -> None:
        self._listen = listen
        self._server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", MAX_INPUT_BYTES + 4096)],
            interceptors=[MalformedRequests()],
        )
        inference_pb2_grpc.add_InferenceServicer_to_server(_Servicer(engine), self._server)

    async def start(self) -> str:
        if self._listen.startswith("unix:"):
            self._server.add_insecure_port(self._listen)
            address = self._listen
        else:
            host = self._listen.rpartition(":")[0]
            if host not in ("127.0.0.1", "localhost", "[::1]", "::1"):
                raise InvalidArgument(
                    f"the Inference API listens on loopback or a unix socket only, not {host!r}"
                )
            port = self._server.add_insecure_port(self._listen)
            address = f"{host}:{port}"
        await self._server.start()
        return address

    async def stop(self) -> None:
        await self._server.stop(1.0)
