"""Requests that are not valid protobuf get INVALID_ARGUMENT, naming the message type, on every method of
every server (the orchestrator's and the agent's local Inference API install the same interceptor).

Left alone, grpc answers a message it cannot parse with UNKNOWN and logs a traceback (unary calls),
or the parse error surfaces inside a stream handler as an internal error. This interceptor gives every
handler a deserializer that never raises: a malformed message becomes a marker that the wrapped
behaviour turns into INVALID_ARGUMENT (unary) or an InvalidArgument error raised from the request
iterator (streams), which the servicer's error translation reports like any other bad input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc

from edgefleet.core.errors import InvalidArgument

__all__ = ["Continuation", "Handler", "MalformedRequests"]

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Ctx: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable["Handler | None"]]


@dataclass(frozen=True, slots=True)
class _Malformed:
    reason: str


def _safe(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        if deserializer is None:
            return data
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError and friends: the bytes are not this message
            return _Malformed(f"{method}: the request is not a valid protobuf message ({exc})")

    return parse


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in requests:
        if isinstance(item, _Malformed):
            raise InvalidArgument(item.reason)
        yield item


async def _replies(result: Any) -> AsyncIterator[Any]:
    """A streaming behaviour is an async generator, or a coroutine that writes with context.write()."""
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    else:
        await result


class MalformedRequests(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        name = details.method.rsplit("/", 1)[-1]
        args = {
            "request_deserializer": _safe(handler.request_deserializer, name),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            inner_uu: Any = handler.unary_unary

            async def unary_unary(request: Any, context: Ctx) -> Any:
                if isinstance(request, _Malformed):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
                return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_unary, **args)
        if handler.unary_stream is not None:
            inner_us: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Ctx) -> AsyncIterator[Any]:
                if isinstance(request, _Malformed):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
                async for item in _replies(inner_us(request, context)):
                    yield item

            return grpc.unary_stream_rpc_method_handler(unary_stream, **args)
        if handler.stream_stream is not None:
            inner_ss: Any = handler.stream_stream

            async def stream_stream(requests: AsyncIterator[Any], context: Ctx) -> AsyncIterator[Any]:
                async for item in _replies(inner_ss(_checked(requests), context)):
                    yield item

            return grpc.stream_stream_rpc_method_handler(stream_stream, **args)
        inner_su: Any = handler.stream_unary
        assert inner_su is not None

        async def stream_unary(requests: AsyncIterator[Any], context: Ctx) -> Any:
            return await inner_su(_checked(requests), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **args)
