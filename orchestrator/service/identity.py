"""Device identity: enrolment tokens, enrolment (certificates or bearer secrets), authentication,
certificate renewal, revocation, and the artifact signing keys agents trust."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from edgefleet.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from edgefleet.orchestrator.fleet.model import DeviceRecord, EnrollmentToken
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.registry.signing import PublicKey, Signer
from edgefleet.orchestrator.security.ca import CertificateAuthority
from edgefleet.orchestrator.service.names import check_labels
from edgefleet.orchestrator.store.base import Store

__all__ = ["Enrollment", "IdentityService"]

#: How long an authenticated device stays cached for the event loop's lookups (revocation clears it).
AUTH_CACHE_SECONDS = 30.0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Enrollment:
    device: DeviceRecord
    #: Bearer secret (insecure mode); "" with mTLS.
    secret: str
    signing_keys: list[PublicKey]
    #: PEM device certificate and the CA that issued it (mTLS); empty in insecure mode.
    certificate_pem: bytes = b""
    ca_pem: bytes = b""


class IdentityService:
    def __init__(
        self,
        *,
        store: Store,
        signer: Signer,
        profiles: ProfileRegistry,
        ca: CertificateAuthority | None = None,
        device_cert_days: float = 365.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._signer = signer
        self._profiles = profiles
        self._ca = ca
        self._cert_days = device_cert_days
        self._clock = clock
        self._cache: dict[str, tuple[float, DeviceRecord]] = {}
        self._cache_lock = threading.Lock()

    # ---- tokens ----
    def create_token(
        self, *, ttl_seconds: float = 3600.0, profile: str = "", uses: int = 1
    ) -> tuple[str, float]:
        if not 0 < ttl_seconds <= 30 * 86400:
            raise InvalidArgument(f"token ttl must be in (0, 30 days], got {ttl_seconds} s")
        if not 1 <= uses <= 100_000:
            raise InvalidArgument(f"token uses must be 1-100000, got {uses}")
        if profile:
            self._profiles.get(profile)
        token = "eft_" + secrets.token_urlsafe(24)
        expires = self._clock() + ttl_seconds
        self._store.put_token(EnrollmentToken(_hash(token), profile, expires, uses))
        return token, expires

    def ensure_bootstrap_token(
        self, token: str, *, uses: int = 100_000, ttl_seconds: float = 365 * 86400
    ) -> bool:
        """Register a known multi-use token (idempotent); True when it was new."""
        if len(token) < 16:
            raise InvalidArgument("bootstrap_token must be at least 16 characters")
        if self._store.token_exists(_hash(token)):
            return False
        self._store.put_token(EnrollmentToken(_hash(token), "", self._clock() + ttl_seconds, uses))
        return True

    # ---- enrolment ----
    def enroll(
        self,
        *,
        token: str,
        profile: str,
        name: str,
        labels: dict[str, str],
        csr_pem: bytes = b"",
    ) -> Enrollment:
        """Exchange a token for an identity: a device certificate over the CSR's key when the
        orchestrator has a CA (mTLS), else a bearer secret (insecure mode)."""
        if not token or len(token) > 200:
            raise PermissionDenied("an enrolment token is required")
        try:
            self._profiles.get(profile)
        except NotFound as exc:
            raise InvalidArgument(exc.message) from exc
        check_labels(labels)
        # the request is checked in full before the (one-time) token is spent on it
        csr = self._ca.check_csr(csr_pem) if self._ca is not None else None
        display = "".join(c for c in (name or "device").strip().lower()[:63] if c.isprintable()) or "device"
        grant = self._store.use_token(_hash(token), self._clock(), profile=profile)
        if grant is None:
            raise PermissionDenied("the enrolment token is unknown, used up or expired")
        if grant.profile and grant.profile != profile:
            raise PermissionDenied(f"the enrolment token is for profile {grant.profile!r}, not {profile!r}")
        device_id = f"{profile}-{secrets.token_hex(5)}"
        certificate = self._ca.sign_device(csr, device_id, days=self._cert_days) if self._ca and csr else b""
        secret = "" if self._ca is not None else secrets.token_urlsafe(32)
        device = DeviceRecord(
            device_id=device_id,
            name=display,
            profile=profile,
            labels=dict(labels),
            # With mTLS no bearer secret exists: a random hash that no secret matches.
            secret_hash=_hash(secret or secrets.token_urlsafe(32)),
            created=self._clock(),
            report=None,
        )
        self._store.put_device(device)
        ca_pem = self._ca.pem if self._ca is not None else b""
        return Enrollment(device, secret, self._signer.trusted_keys(), certificate, ca_pem)

    def trusted_keys(self) -> list[PublicKey]:
        """Artifact signing keys agents should trust (sent on every connection: rotation)."""
        return self._signer.trusted_keys()

    # ---- authentication ----
    def cached(self, device_id: str) -> DeviceRecord | None:
        """The device as last authenticated, if recent: lets the event loop authenticate without I/O."""
        with self._cache_lock:
            hit = self._cache.get(device_id)
        if hit is None or self._clock() - hit[0] > AUTH_CACHE_SECONDS:
            return None
        return hit[1]

    def _remember(self, device: DeviceRecord) -> DeviceRecord:
        with self._cache_lock:
            self._cache[device.device_id] = (self._clock(), device)
        return device

    def forget(self, device_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(device_id, None)

    def authenticate(self, device_id: str, secret: str) -> DeviceRecord:
        """Insecure mode: the device id and bearer secret from the call's metadata."""
        device = self._store.get_device(device_id) if device_id else None
        if device is None or not secret or not hmac.compare_digest(device.secret_hash, _hash(secret)):
            raise Unauthenticated("unknown device or wrong credentials: enrol first")
        if device.revoked:
            raise Unauthenticated(f"device {device_id} is revoked")
        return device

    def device_for_certificate(self, device_id: str) -> DeviceRecord:
        """mTLS: the device named by a certificate our CA issued; revoked devices are refused."""
        device = self._store.get_device(device_id)
        if device is None:
            raise Unauthenticated(f"no device {device_id[:80]!r}: the certificate is not from this fleet")
        if device.revoked:
            raise Unauthenticated(f"device {device_id} is revoked")
        return self._remember(device)

    def renew_certificate(self, device_id: str, csr_pem: bytes) -> bytes:
        """A fresh certificate for an enrolled, unrevoked device, authenticated by its current one."""
        if self._ca is None:
            raise FailedPrecondition(
                "this orchestrator runs in insecure mode: there are no certificates to renew"
            )
        csr = self._ca.check_csr(csr_pem)
        self.device_for_certificate(device_id)
        return self._ca.sign_device(csr, device_id, days=self._cert_days)

    def revoke(self, device_id: str, reason: str) -> DeviceRecord:
        """Revoke a device for good: its calls are refused from now on, and it is never a target."""
        if len(reason) > 500:
            raise InvalidArgument("reason: at most 500 characters")
        device = self._store.get_device(device_id)
        if device is None:
            raise NotFound(f"no device {device_id[:80]!r}")
        self.forget(device_id)
        if not device.revoked:
            device = self._store.update_device(device_id, lambda d: replace(d, revoked=True, desired=None))
        return device
