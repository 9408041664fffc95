"""The device's TLS identity: a key generated here (it never leaves the device), a CSR sent at enrolment,
and the certificate the orchestrator's CA issued for it. Files live in ``DATA_DIR/tls`` (keys 0600)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgefleet.core.errors import FailedPrecondition, InvalidArgument
from edgefleet.core.fsutil import atomic_write

__all__ = ["DeviceTls", "load_ca", "new_key_and_csr"]


def new_key_and_csr(name: str) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key and a CSR over it (the orchestrator sets the certificate's subject)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name[:64] or "device")]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def load_ca(path: Path) -> bytes:
    """The orchestrator's CA certificate (given out of band, like the enrolment token)."""
    try:
        data = path.read_bytes()
        x509.load_pem_x509_certificate(data)
    except FileNotFoundError as exc:
        raise InvalidArgument(f"{path}: no such CA certificate file") from exc
    except ValueError as exc:
        raise InvalidArgument(f"{path}: not a PEM certificate ({exc})") from exc
    return data


@dataclass(frozen=True, slots=True)
class DeviceTls:
    key_pem: bytes
    certificate_pem: bytes
    ca_pem: bytes

    @staticmethod
    def directory(data_dir: Path) -> Path:
        return data_dir / "tls"

    def save(self, data_dir: Path) -> None:
        """Key and certificate in one file, written atomically: a renewal interrupted at any point leaves
        either the old pair or the new one, never a key with another key's certificate."""
        d = self.directory(data_dir)
        atomic_write(d / "ca.crt", self.ca_pem)
        atomic_write(d / "device.pem", self.key_pem + self.certificate_pem, mode=0o600)

    @classmethod
    def load(cls, data_dir: Path) -> DeviceTls:
        d = cls.directory(data_dir)
        try:
            bundle = (d / "device.pem").read_bytes()
            ca = (d / "ca.crt").read_bytes()
        except FileNotFoundError as exc:
            raise FailedPrecondition(
                f"{exc.filename}: missing; the device's TLS identity is incomplete (remove "
                f"{data_dir / 'identity.json'} and enrol again)"
            ) from exc
        marker = bundle.find(b"-----BEGIN CERTIFICATE-----")
        if marker <= 0:
            raise FailedPrecondition(f"{d / 'device.pem'}: expected a private key followed by a certificate")
        return cls(bundle[:marker], bundle[marker:], ca)

    def renew_at(self) -> float:
        """Unix time at which a third of the certificate's validity is left: time to renew."""
        cert = x509.load_pem_x509_certificate(self.certificate_pem)
        start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
        return end - (end - start) / 3

    def expires_at(self) -> float:
        return x509.load_pem_x509_certificate(self.certificate_pem).not_valid_after_utc.timestamp()

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.certificate_pem)
