"""Device certificate renewal: a new key and certificate over the current (still valid) mTLS channel, once
a third of the validity is left. Without it, a fleet would drop off in a year."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from edgefleet.agent.connection.wire import renew_request, renewed_certificate
from edgefleet.agent.identity.tls import DeviceTls, new_key_and_csr
from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.rpc import error_from_rpc

__all__ = ["request_renewal"]

log = logging.getLogger("edgefleet.agent")


async def request_renewal(stub: Any, tls: DeviceTls, name: str, metadata: Any) -> DeviceTls:
    """The renewed TLS material (not saved yet: the caller writes it on the disk thread)."""
    key_pem, csr_pem = await asyncio.to_thread(new_key_and_csr, name)
    try:
        reply = await stub.RenewCertificate(renew_request(csr_pem), metadata=metadata, timeout=30)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from exc
    certificate = renewed_certificate(reply)
    if not certificate:
        raise FailedPrecondition("the orchestrator renewed nothing (an empty certificate)")
    renewed = DeviceTls(key_pem, certificate, tls.ca_pem)
    log.info(
        "device certificate renewed; valid until %s",
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(renewed.expires_at())),
    )
    return renewed
