"""Device identity (certificate authority) and credentials."""

from edgefleet.orchestrator.security.ca import (
    CertificateAuthority,
    ServerTls,
    default_hosts,
    init_tls,
    load_server_tls,
)

__all__ = ["CertificateAuthority", "ServerTls", "default_hosts", "init_tls", "load_server_tls"]
