"""The gRPC edge of the error catalogue: domain errors <-> status codes, both directions."""

from __future__ import annotations

import grpc

from edgefleet.core.errors import EdgefleetError, ErrorCode, Unavailable, error_of

__all__ = ["error_from_rpc", "status_of"]


def status_of(exc: EdgefleetError) -> grpc.StatusCode:
    return grpc.StatusCode[exc.code.name]


def error_from_rpc(exc: grpc.RpcError, *, target: str = "") -> EdgefleetError:
    """Turn a failed call back into the domain error the server raised (callers never see grpc)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or str(code)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        where = f" at {target}" if target else ""
        return Unavailable(f"cannot reach the orchestrator{where}: {details}")
    try:
        kind = ErrorCode[code.name]
    except KeyError:
        kind = ErrorCode.INTERNAL
    return error_of(kind, details)
