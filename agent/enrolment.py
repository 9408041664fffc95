"""Enrolment (a one-time token for an identity: a device certificate over a key made here, or a bearer
secret in insecure mode) and adopting the orchestrator's artifact signing keys (rotation)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from pathlib import Path
from typing import Any

import grpc

from edgefleet.agent.config import AgentConfig
from edgefleet.agent.hardware import read_hardware
from edgefleet.agent.identity import Identity, TrustedKey
from edgefleet.agent.tls import DeviceTls, load_ca, new_key_and_csr
from edgefleet.agent.wire import hardware_pb
from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.rpc import error_from_rpc
from edgefleet.core.trust import key_id_of
from edgefleet.v1 import control_pb2, control_pb2_grpc

__all__ = ["adopt_signing_keys", "enroll", "renew_certificate"]

log = logging.getLogger("edgefleet.agent")


async def enroll(config: AgentConfig) -> tuple[Identity, DeviceTls | None]:
    """Enrol on the orchestrator's API port; saves and returns the identity (and TLS material)."""
    if not config.token:
        raise FailedPrecondition("this device has no identity yet: give an enrolment token (--token)")
    target = config.enroll_address or config.orchestrator
    name = config.name or socket.gethostname()
    key_pem = csr_pem = ca_pem = b""
    if config.insecure:
        channel = grpc.aio.insecure_channel(target)
    else:
        if config.ca_file is None:
            raise FailedPrecondition(
                "enrolment needs the orchestrator's CA certificate (--ca FILE, from `edgefleet certs "
                "init`), or --insecure for a plaintext development orchestrator"
            )
        ca_pem = load_ca(config.ca_file)
        key_pem, csr_pem = await asyncio.to_thread(new_key_and_csr, name)
        channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(ca_pem))
    request = control_pb2.EnrollRequest(
        token=config.token,
        profile=config.profile,
        name=name,
        hardware=hardware_pb(read_hardware(config.data_dir)),
        csr_pem=csr_pem,
    )
    try:
        async with channel:
            reply = await control_pb2_grpc.FleetControlStub(channel).Enroll(request, timeout=30)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc, target=target) from exc
    tls = None
    if not config.insecure:
        if not reply.certificate_pem:
            raise FailedPrecondition(
                f"{target} issued no device certificate: it runs in insecure mode; enrol with --insecure"
            )
        tls = DeviceTls(key_pem, reply.certificate_pem, ca_pem)
        tls.save(config.data_dir)
    keys = tuple(TrustedKey(k.key_id, k.public_key.hex()) for k in reply.signing_keys)
    identity = Identity(
        reply.device_id, reply.device_secret, config.profile, config.orchestrator, keys, tls is not None
    )
    identity.save(config.data_dir)
    log.info(
        "enrolled as %s (%s, %d trusted signing key(s))",
        reply.device_id,
        "mTLS certificate" if tls is not None else "INSECURE bearer secret",
        len(keys),
    )
    return identity, tls


def adopt_signing_keys(identity: Identity, keys: Any, data_dir: Path) -> Identity:
    """Key rotation: trust the orchestrator's current signing keys. Only over mTLS, where the
    orchestrator proved who it is; a plaintext peer could hand us its own key."""
    if not keys:
        return identity
    if not identity.mtls:
        log.warning("ignoring signing keys sent over an insecure connection")
        return identity
    new = tuple(
        TrustedKey(k.key_id, k.public_key.hex())
        for k in keys
        if len(k.public_key) == 32 and key_id_of(k.public_key) == k.key_id
    )
    if {k.key_id for k in new} == {k.key_id for k in identity.trusted_keys}:
        return identity
    updated = dataclasses.replace(identity, trusted_keys=new)
    updated.save(data_dir)
    log.info("trusted artifact signing keys now: %s", ", ".join(k.key_id for k in new))
    return updated


async def renew_certificate(stub: Any, tls: DeviceTls, name: str, data_dir: Path, metadata: Any) -> DeviceTls:
    """A new key and certificate from the orchestrator, over the current (still valid) mTLS channel."""
    key_pem, csr_pem = await asyncio.to_thread(new_key_and_csr, name)
    try:
        reply = await stub.RenewCertificate(
            control_pb2.RenewCertificateRequest(csr_pem=csr_pem), metadata=metadata, timeout=30
        )
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from exc
    renewed = DeviceTls(key_pem, reply.certificate_pem, tls.ca_pem)
    renewed.save(data_dir)
    log.info(
        "device certificate renewed; valid until %s",
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(renewed.expires_at())),
    )
    return renewed
