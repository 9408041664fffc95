"""The agent-local Inference API (Predict, Feedback) on a loopback port or a unix socket."""

from __future__ import annotations

import math
import uuid
from collections import OrderedDict
from typing import Any, TypeAlias

import grpc
import numpy as np

from edgefleet.agent.engine import Engine
from edgefleet.agent.wire import variant_pb
from edgefleet.core.errors import EdgefleetError, InvalidArgument, NotFound
from edgefleet.core.rpc import status_of
from edgefleet.v1 import inference_pb2, inference_pb2_grpc

__all__ = ["InferenceServer", "decode_tensor"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]
_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}
MAX_INPUT_BYTES = 16 * 1024 * 1024
_REMEMBERED = 10_000


def decode_tensor(t: inference_pb2.Tensor) -> np.ndarray[Any, Any]:
    if t.dtype not in _DTYPES:
        raise InvalidArgument(f"tensor dtype {t.dtype!r} is not one of {sorted(_DTYPES)}")
    if not t.shape or any(d == 0 for d in t.shape):
        raise InvalidArgument(f"tensor shape {list(t.shape)} must be non-empty with no zero dimension")
    itemsize = np.dtype(_DTYPES[t.dtype]).itemsize
    expected = math.prod(t.shape) * itemsize
    if expected > MAX_INPUT_BYTES:
        raise InvalidArgument(f"tensor of {expected} bytes exceeds {MAX_INPUT_BYTES} bytes")
    if len(t.data) != expected:
        raise InvalidArgument(
            f"tensor data is {len(t.data)} bytes, shape {list(t.shape)} x {t.dtype} needs {expected}"
        )
    return np.frombuffer(t.data, dtype=_DTYPES[t.dtype]).reshape(tuple(t.shape))


class _Servicer(inference_pb2_grpc.InferenceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._recent: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()

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
        self._recent[request_id] = prediction.classes
        while len(self._recent) > _REMEMBERED:
            self._recent.popitem(last=False)
        labels = self._engine.current.bundle.manifest.labels if self._engine.current else ()
        scores = prediction.scores.astype(np.float32)
        return inference_pb2.PredictResponse(
            request_id=request_id,
            scores=inference_pb2.Tensor(shape=list(scores.shape), dtype="float32", data=scores.tobytes()),
            classes=[int(c) for c in prediction.classes],
            labels=[labels[c] if c < len(labels) else str(c) for c in prediction.classes],
            variant=variant_pb(prediction.variant),
            latency_seconds=prediction.latency_s,
        )

    async def Feedback(
        self, request: inference_pb2.FeedbackRequest, context: Ctx
    ) -> inference_pb2.FeedbackResponse:
        classes = self._recent.pop(request.request_id, None)
        if classes is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                NotFound(f"unknown or expired request id {request.request_id[:64]!r}").message,
            )
        if len(request.labels) != len(classes):
            self._recent[request.request_id] = classes
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{len(request.labels)} labels for {len(classes)} predictions",
            )
        correct = [int(c) == int(y) for c, y in zip(classes, request.labels, strict=True)]
        self._engine.stats.record_labels(sum(correct), len(correct))
        return inference_pb2.FeedbackResponse(correct=correct)


class InferenceServer:
    def __init__(self, engine: Engine, listen: str) -> None:
        self._listen = listen
        self._server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_INPUT_BYTES + 4096)])
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
