"""The orchestrator's listening ports: checked before anything starts, bound with the right credentials,
and a failure said in one line naming the address (``edgefleet.core.ports``)."""

from __future__ import annotations

import grpc

from edgefleet.core.errors import Unavailable
from edgefleet.core.ports import check_free
from edgefleet.orchestrator.config import ServerConfig
from edgefleet.orchestrator.security import ServerTls

__all__ = ["add_port", "check_ports"]


def check_ports(config: ServerConfig) -> None:
    """Every configured address can be bound now (agents', API, metrics, artifact origin), or the error
    naming the first."""
    for listen in (config.listen, config.api_listen, config.metrics_listen, config.artifact_listen):
        if listen:
            check_free(listen)


def add_port(server: grpc.aio.Server, listen: str, tls: ServerTls | None, *, agents: bool) -> str:
    """Bind ``listen`` on ``server``; returns the bound HOST:PORT. Agents' port: mTLS (client certificate
    required). API port: server TLS only, because a device has no certificate until it enrols. Both
    plaintext without ``tls`` (insecure mode)."""
    host, _, _ = listen.rpartition(":")
    check_free(listen)  # one line naming it (gRPC's own failure is a log line and a RuntimeError)
    try:
        if tls is None:
            port = server.add_insecure_port(listen)
        else:
            creds = grpc.ssl_server_credentials(
                [(tls.key_pem, tls.cert_pem)],
                root_certificates=tls.ca_pem if agents else None,
                require_client_auth=agents,
            )
            port = server.add_secure_port(listen, creds)
    except RuntimeError:
        port = 0
    if port == 0:
        check_free(listen)  # taken since the check: say so
        raise Unavailable(f"cannot listen on {listen}")
    return f"{host}:{port}"
