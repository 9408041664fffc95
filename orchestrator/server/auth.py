"""Who a call speaks for.

Agents: with mTLS the device id is the common name of the verified client certificate; a call that
claims another device (``x-edgefleet-device`` metadata, or later a Hello) is refused. In ``--insecure``
mode the device id and a bearer secret come from metadata instead.

Admin API: every FleetAdmin method needs ``authorization: Bearer <admin token>`` when the server has one
(always with TLS); an interceptor checks it before any servicer code runs.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import grpc

from edgefleet.core.errors import PermissionDenied, Unauthenticated
from edgefleet.core.grpc_guard import Continuation, Handler
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.service.identity import IdentityService

__all__ = ["AdminAuth", "DeviceAuth", "bearer"]

ADMIN_PREFIX = "/edgefleet.v1.FleetAdmin/"


def _metadata(pairs: Any) -> dict[str, str]:
    return {k: v for k, v in (pairs or ()) if isinstance(v, str)}


def bearer(pairs: Any) -> str:
    auth = _metadata(pairs).get("authorization", "")
    return auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""


class DeviceAuth:
    def __init__(self, identity: IdentityService, *, mtls: bool) -> None:
        self._identity = identity
        self.mtls = mtls

    async def device(self, context: grpc.aio.ServicerContext[Any, Any]) -> DeviceRecord:
        """The calling device. A device authenticated in the last seconds comes from memory (revocation
        clears it); otherwise the store is read on a worker thread, never on the event loop, so a
        database writer holding its lock cannot stall every stream."""
        md = _metadata(context.invocation_metadata())
        claimed = md.get("x-edgefleet-device", "")
        if not self.mtls:
            secret = bearer(context.invocation_metadata())
            return await asyncio.to_thread(self._identity.authenticate, claimed, secret)
        names = list(context.auth_context().get("x509_common_name") or ())
        if not names:
            raise Unauthenticated(
                "a device certificate is required: enrol on the API port, then connect to the agent port"
            )
        device_id = names[0].decode("utf-8", "replace")
        if claimed and claimed != device_id:
            raise PermissionDenied(f"this certificate belongs to {device_id}, not {claimed[:80]!r}")
        cached = self._identity.cached(device_id)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self._identity.device_for_certificate, device_id)


class AdminAuth(grpc.aio.ServerInterceptor):
    """Refuses FleetAdmin calls without the admin token, with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_service(
        self,
        continuation: Continuation,
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(ADMIN_PREFIX):
            return handler
        given = bearer(details.invocation_metadata)
        if given and hmac.compare_digest(given.encode(), self._token.encode()):
            return handler
        reason = "wrong admin token" if given else "the admin API needs a token (authorization: Bearer ...)"
        return _refusal(handler, f"{reason}; it is in DATA_DIR/tls/admin.token (EDGEFLEET_ADMIN_TOKEN)")


def _refusal(handler: Handler, message: str) -> Handler:
    # grpc.aio accepts a plain coroutine for every kind of method; it aborts before any reply.
    async def deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    args = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(deny, **args)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(deny, **args)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(deny, **args)
    return grpc.stream_stream_rpc_method_handler(deny, **args)
