"""The agent-local Inference API (Predict, Feedback) over gRPC on a loopback port or a unix socket, and
beside it, when configured, the framed local socket (``local_socket.py``).

Bad input gets one clear status: bytes that are not protobuf, a tensor that does not decode, a dtype
that is not the model's, NaN, and Feedback labels outside the model's classes are INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeAlias

import grpc

from edgefleet.agent.workload.engine import Engine
from edgefleet.agent.workload.frames import MAX_INPUT_BYTES
from edgefleet.agent.workload.inference import InferenceService
from edgefleet.agent.workload.local_socket import LocalSocketServer
from edgefleet.agent.workload.messages import decode_tensor, predict_response
from edgefleet.core.errors import EdgefleetError, InvalidArgument
from edgefleet.core.grpc_guard import MalformedRequests
from edgefleet.core.rpc import status_of
from edgefleet.v1 import inference_pb2, inference_pb2_grpc

__all__ = ["InferenceServer"]

Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class _Servicer(inference_pb2_grpc.InferenceServicer):
    def __init__(self, service: InferenceService) -> None:
        self._service = service

    async def Predict(
        self, request: inference_pb2.PredictRequest, context: Ctx
    ) -> inference_pb2.PredictResponse:
        try:
            answer = await self._service.predict(decode_tensor(request.input), request.request_id)
        except EdgefleetError as exc:
            await context.abort(status_of(exc), exc.message)
        return predict_response(answer)

    async def Feedback(
        self, request: inference_pb2.FeedbackRequest, context: Ctx
    ) -> inference_pb2.FeedbackResponse:
        try:
            correct = self._service.feedback(request.request_id, request.labels)
        except EdgefleetError as exc:
            await context.abort(status_of(exc), exc.message)
        return inference_pb2.FeedbackResponse(correct=correct)


class InferenceServer:
    """The Inference API on ``listen`` (gRPC) and, when ``local_socket`` is given, the same Predict and
    Feedback as framed protobuf on that unix socket (``local_socket.py``: the fast path on the device)."""

    def __init__(self, engine: Engine, listen: str, local_socket: Path | None = None) -> None:
        self._listen = listen
        service = InferenceService(engine)
        self._local = LocalSocketServer(service, local_socket) if local_socket else None
        self._server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", MAX_INPUT_BYTES + 4096)],
            interceptors=[MalformedRequests()],
        )
        inference_pb2_grpc.add_InferenceServicer_to_server(_Servicer(service), self._server)

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
        if self._local is not None:
            await asyncio.to_thread(self._local.start)
        return address

    async def stop(self) -> None:
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
        await self._server.stop(1.0)
