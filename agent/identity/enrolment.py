"""Enrolment: a one-time token for an identity (a device certificate over a key made here, or a bearer
secret in insecure mode), saved in the data directory."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import grpc

from edgefleet.agent.config import AgentConfig
from edgefleet.agent.connection.wire import enroll_request, enrollment_from_pb
from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.hardware import read_hardware
from edgefleet.agent.identity.record import Identity, TrustedKey
from edgefleet.agent.identity.tls import DeviceTls, load_ca, new_key_and_csr
from edgefleet.core.errors import FailedPrecondition, Unavailable
from edgefleet.core.rpc import error_from_rpc
from edgefleet.v1 import control_pb2_grpc

__all__ = ["enroll"]

log = logging.getLogger("edgefleet.agent")


async def enroll(config: AgentConfig, disk: DiskExecutor) -> tuple[Identity, DeviceTls | None]:
    """Enrol on the orchestrator's API port; saves and returns the identity (and TLS material)."""
    if not config.token:
        raise FailedPrecondition("this device has no identity yet: give an enrolment token (--token)")
    name = config.name or socket.gethostname()
    key_pem = csr_pem = ca_pem = b""
    if not config.insecure:
        if config.ca_file is None:
            raise FailedPrecondition(
                "enrolment needs the orchestrator's CA certificate (--ca FILE, from `edgefleet certs "
                "init`), or --insecure for a plaintext development orchestrator"
            )
        ca_pem = await disk.run(load_ca, config.ca_file)
        key_pem, csr_pem = await asyncio.to_thread(new_key_and_csr, name)
    request = enroll_request(
        token=config.token,
        profile=config.profile,
        name=name,
        hardware=await disk.run(read_hardware, config.data_dir),
        labels=dict(config.labels),
        csr_pem=csr_pem,
    )
    targets = config.enroll_addresses
    for i, target in enumerate(targets):  # replicas: the next one when this one is unreachable
        if config.insecure:
            channel = grpc.aio.insecure_channel(target)
        else:
            channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca_pem))
        try:
            async with channel:
                stub: Any = control_pb2_grpc.FleetControlStub(channel)
                reply = enrollment_from_pb(await stub.Enroll(request, timeout=30))
            break
        except grpc.RpcError as exc:
            error = error_from_rpc(exc, target=target)
            if not isinstance(error, Unavailable) or i == len(targets) - 1:
                raise error from exc
            log.warning("cannot enrol on %s (%s); trying %s", target, error.message, targets[i + 1])
    tls = None
    if not config.insecure:
        if not reply.certificate_pem:
            raise FailedPrecondition(
                f"{target} issued no device certificate: it runs in insecure mode; enrol with --insecure"
            )
        tls = DeviceTls(key_pem, reply.certificate_pem, ca_pem)
        await disk.run(tls.save, config.data_dir)
    keys = tuple(TrustedKey(k.key_id, k.public_key.hex()) for k in reply.signing_keys)
    identity = Identity(
        reply.device_id, reply.device_secret, config.profile, config.orchestrator, keys, tls is not None
    )
    await disk.run(identity.save, config.data_dir)
    log.info(
        "enrolled as %s (%s, %d trusted signing key(s)%s)",
        reply.device_id,
        "mTLS certificate" if tls is not None else "INSECURE bearer secret",
        len(keys),
        f", labels {dict(config.labels)}" if config.labels else "",
    )
    return identity, tls
