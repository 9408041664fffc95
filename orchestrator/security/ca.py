"""The orchestrator's certificate authority: device identity for mTLS.

``edgefleet certs init`` creates, under ``DATA_DIR/tls``:

* ``ca.key`` (0600) and ``ca.crt``: an ECDSA P-256 CA, valid 10 years, path length 0;
* ``server.key`` (0600) and ``server.crt``: the orchestrator's serving certificate, with the host names and
  addresses agents and the CLI dial as subject alternative names;
* ``admin.token`` (0600): the credential of the admin API.

At enrolment a device sends a CSR with a key it generated itself (the private key never leaves the
device). The orchestrator checks the CSR's own signature and key type, then issues a client-auth
certificate whose common name is the device id it assigned; the CSR's subject is ignored, so a
device cannot choose whom it speaks for. Revocation is checked by the orchestrator on every call (it is
the only party that verifies device certificates), so no CRL is published.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edgefleet.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from edgefleet.core.fsutil import atomic_write

__all__ = ["CertificateAuthority", "ServerTls", "default_hosts", "init_tls", "load_server_tls"]

CA_DAYS = 3650
SERVER_DAYS = 825
DEVICE_DAYS = 365
MAX_CSR_BYTES = 8192
FILES = ("ca.key", "ca.crt", "server.key", "server.crt", "admin.token")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def default_hosts() -> tuple[str, ...]:
    return ("localhost", "127.0.0.1", "::1", socket.gethostname())


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or len(host) > 253 or any(c in host for c in " /\\:@"):
                raise InvalidArgument(f"host {host[:80]!r} is neither an IP address nor a DNS name") from None
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


@dataclass(frozen=True, slots=True)
class ServerTls:
    """What the orchestrator serves with."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    admin_token: str


class CertificateAuthority:
    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self._key = key
        self.cert = cert

    @property
    def pem(self) -> bytes:
        return _cert_pem(self.cert)

    @classmethod
    def load(cls, directory: Path) -> CertificateAuthority:
        try:
            key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        except FileNotFoundError as exc:
            raise FailedPrecondition(
                f"no certificate authority in {directory} ({Path(exc.filename).name} is missing): "
                f"run `edgefleet certs init`"
            ) from exc
        except ValueError as exc:
            raise FailedPrecondition(f"{directory}: unreadable CA key or certificate ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise FailedPrecondition(f"{directory / 'ca.key'}: expected an EC private key")
        return cls(key, cert)

    def issue(
        self,
        subject: str,
        public_key: ec.EllipticCurvePublicKey,
        *,
        days: float,
        usage: x509.ObjectIdentifier,
        san: x509.SubjectAlternativeName | None = None,
    ) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(self._key, hashes.SHA256())

    @staticmethod
    def check_csr(csr_pem: bytes) -> x509.CertificateSigningRequest:
        """Parse and check a device's CSR (before anything is spent on it, such as a one-time token)."""
        if not csr_pem:
            raise InvalidArgument("csr_pem: a certificate signing request is required (the server uses mTLS)")
        if len(csr_pem) > MAX_CSR_BYTES:
            raise InvalidArgument(f"csr_pem: {len(csr_pem)} bytes; at most {MAX_CSR_BYTES}")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise InvalidArgument(f"csr_pem: not a PEM certificate signing request ({exc})") from exc
        if not csr.is_signature_valid:
            raise InvalidArgument("csr_pem: the request's signature does not match its key")
        key = csr.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise InvalidArgument("csr_pem: the key must be ECDSA P-256")
        return csr

    def sign_device(
        self, csr: x509.CertificateSigningRequest, device_id: str, *, days: float = DEVICE_DAYS
    ) -> bytes:
        """A client certificate for ``device_id`` over the CSR's key; the CSR's subject is ignored."""
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)  # check_csr made sure
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"edgefleet://device/{device_id}")])
        cert = self.issue(device_id, key, days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH, san=san)
        return _cert_pem(cert)


def init_tls(directory: Path, hosts: tuple[str, ...], *, force: bool = False) -> list[Path]:
    """Create the CA, the server certificate and the admin token; returns the files written.

    An existing CA is never replaced silently: every enrolled device trusts it and holds a
    certificate from it. ``force`` replaces everything (devices must enrol again).
    """
    if (directory / "ca.key").exists() and not force:
        raise AlreadyExists(
            f"{directory} already holds a certificate authority; enrolled devices depend on it "
            f"(--force replaces it, and every device must enrol again)"
        )
    if not hosts:
        raise InvalidArgument("at least one host name or address is needed for the server certificate")
    san = _san(hosts)
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"edgefleet CA {secrets.token_hex(4)}")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca = CertificateAuthority(ca_key, ca_cert)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = ca.issue(
        hosts[0], server_key.public_key(), days=SERVER_DAYS, usage=ExtendedKeyUsageOID.SERVER_AUTH, san=san
    )
    outputs = {
        "ca.key": (_key_pem(ca_key), 0o600),
        "ca.crt": (_cert_pem(ca_cert), 0o644),
        "server.key": (_key_pem(server_key), 0o600),
        "server.crt": (_cert_pem(server_cert), 0o644),
        "admin.token": ((secrets.token_urlsafe(32) + "\n").encode(), 0o600),
    }
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file, (data, mode) in outputs.items():
        atomic_write(directory / file, data, mode=mode)
        written.append(directory / file)
    return written


def load_server_tls(directory: Path) -> ServerTls:
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise FailedPrecondition(
            f"no TLS material in {directory} (missing {', '.join(missing)}): run "
            f"`edgefleet certs init --data-dir {directory.parent}`, or pass --insecure for plaintext "
            f"local development"
        )
    token = (directory / "admin.token").read_text().strip()
    if len(token) < 16:
        raise FailedPrecondition(f"{directory / 'admin.token'}: the admin token is under 16 characters")
    return ServerTls(
        ca_pem=(directory / "ca.crt").read_bytes(),
        cert_pem=(directory / "server.crt").read_bytes(),
        key_pem=(directory / "server.key").read_bytes(),
        admin_token=token,
    )
