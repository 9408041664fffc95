"""Fleet service: enrolment tokens, device identity, reported and desired state, deployments."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from edgefleet.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from edgefleet.orchestrator.fleet.model import Desired, DeviceRecord, EnrollmentToken, Report
from edgefleet.orchestrator.registry.signing import PublicKey, Signer
from edgefleet.orchestrator.security.ca import CertificateAuthority
from edgefleet.orchestrator.service.bundles import BundleService
from edgefleet.orchestrator.service.names import check_name
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["Assignment", "Enrollment", "FleetService"]

_PHASES = ("downloading", "verifying", "installing", "trial", "committed", "failed", "rolled_back")
MAX_LABELS = 32


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Assignment:
    device_id: str
    profile: str
    desired: Desired
    changed: bool


@dataclass(frozen=True, slots=True)
class Enrollment:
    device: DeviceRecord
    #: Bearer secret (insecure mode); "" with mTLS.
    secret: str
    signing_keys: list[PublicKey]
    #: PEM device certificate and the CA that issued it (mTLS); empty in insecure mode.
    certificate_pem: bytes = b""
    ca_pem: bytes = b""


class FleetService:
    def __init__(
        self,
        *,
        store: Store,
        signer: Signer,
        variants: VariantService,
        plans: PlanService,
        bundles: BundleService,
        trial_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        ca: CertificateAuthority | None = None,
        device_cert_days: float = 365.0,
    ) -> None:
        self._ca = ca
        self._cert_days = device_cert_days
        self._store = store
        self._signer = signer
        self._variants = variants
        self._plans = plans
        self._bundles = bundles
        self._trial_seconds = trial_seconds
        self._clock = clock
        #: Heartbeats only touch memory; reads merge it with the stored record.
        self._last_seen: dict[str, float] = {}

    # ---- identity ----
    def create_token(
        self, *, ttl_seconds: float = 3600.0, profile: str = "", uses: int = 1
    ) -> tuple[str, float]:
        if not 0 < ttl_seconds <= 30 * 86400:
            raise InvalidArgument(f"token ttl must be in (0, 30 days], got {ttl_seconds} s")
        if not 1 <= uses <= 100_000:
            raise InvalidArgument(f"token uses must be 1-100000, got {uses}")
        if profile:
            self._plans.get_profile(profile)
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

    def enroll(
        self,
        *,
        token: str,
        profile: str,
        name: str,
        hardware: dict[str, object],
        labels: dict[str, str],
        csr_pem: bytes = b"",
    ) -> Enrollment:
        """Exchange a token for an identity: a device certificate over the CSR's key when the
        orchestrator has a CA (mTLS), else a bearer secret (insecure mode)."""
        if not token or len(token) > 200:
            raise PermissionDenied("an enrolment token is required")
        try:
            self._plans.get_profile(profile)
        except NotFound as exc:
            raise InvalidArgument(exc.message) from exc
        if len(labels) > MAX_LABELS:
            raise InvalidArgument(f"{len(labels)} labels; at most {MAX_LABELS}")
        for key, value in labels.items():
            check_name("label key", key)
            if len(value) > 63:
                raise InvalidArgument(f"label {key!r}: value longer than 63 characters")
        # the request is checked in full before the (one-time) token is spent on it
        csr = self._ca.check_csr(csr_pem) if self._ca is not None else None
        display = "".join(c for c in (name or "device").strip().lower()[:63] if c.isprintable()) or "device"
        grant = self._store.use_token(_hash(token), self._clock())
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
        return device

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
        device = self._device(device_id)
        if not device.revoked:
            device = replace(device, revoked=True, desired=None)
            self._store.put_device(device)
        return self._fresh(device)

    # ---- reports ----
    def hello(self, device_id: str, profile: str, report: Report) -> DeviceRecord:
        device = self._device(device_id)
        if profile != device.profile:
            raise PermissionDenied(f"device {device_id} enrolled as {device.profile!r}, not {profile!r}")
        device = replace(device, report=report, last_seen=self._clock())
        self._store.put_device(device)
        return device

    def seen(self, device_id: str) -> None:
        self._last_seen[device_id] = self._clock()

    def record_status(
        self,
        device_id: str,
        *,
        generation: int,
        phase: str,
        reason: str,
        done: int = 0,
        total: int = 0,
        active: tuple[str, str] | None = None,
        runtime: tuple[str, str] | None = None,
    ) -> DeviceRecord:
        """One deployment step; ``active``, ``runtime``: what serves after it (id, recipe; name, version)."""
        if phase not in _PHASES:
            raise InvalidArgument(f"unknown deployment phase {phase!r}")
        device = self._device(device_id)
        report = device.report
        now_active = active or ("", "")
        if report is not None and now_active[0] != report.active_variant:
            report = replace(
                report,
                previous_variant=report.active_variant,
                active_variant=now_active[0],
                active_recipe=now_active[1],
            )
        if report is not None and runtime is not None and runtime[0]:
            report = replace(report, runtime_name=runtime[0][:64], runtime_version=runtime[1][:64])
        if device.desired is not None and generation != device.desired.generation:
            if report is not device.report:  # an older deployment's report still says what serves
                self._store.put_device(replace(device, report=report))
            return device
        device = replace(
            device,
            report=report,
            phase=phase,
            phase_reason=reason[:1000],
            bytes_done=done,
            bytes_total=total,
            last_seen=self._clock(),
        )
        self._store.put_device(device)
        return device

    # ---- queries ----
    def _fresh(self, device: DeviceRecord) -> DeviceRecord:
        seen = self._last_seen.get(device.device_id, 0.0)
        return replace(device, last_seen=seen) if seen > device.last_seen else device

    def _device(self, device_id: str) -> DeviceRecord:
        device = self._store.get_device(device_id)
        if device is None:
            raise NotFound(f"no device {device_id[:80]!r}")
        return self._fresh(device)

    def get_device(self, device_id: str) -> DeviceRecord:
        return self._device(device_id)

    def list_devices(self, profile: str = "") -> list[DeviceRecord]:
        return [self._fresh(d) for d in self._store.list_devices(profile)]

    # ---- desired state ----
    def targets(self, profiles: Sequence[str], device_ids: Sequence[str]) -> list[DeviceRecord]:
        """Devices named, or of the profiles, or all; revoked devices are never targets."""
        return self._targets(profiles, device_ids)

    def _targets(self, profiles: Sequence[str], device_ids: Sequence[str]) -> list[DeviceRecord]:
        if device_ids:
            devices = [self._device(d) for d in device_ids]
        else:
            for p in profiles:
                self._plans.get_profile(p)
            pool = self._store.list_devices()
            devices = [d for d in pool if not profiles or d.profile in profiles]
        return [d for d in devices if not d.revoked]

    def _variant_for(self, model: str, profile: str, variant_id: str, objective: str) -> VariantCard:
        if variant_id:
            card = self._variants.get(variant_id)
            if card.model != model:
                raise InvalidArgument(
                    f"variant {card.short_id} belongs to model {card.model!r}, not {model!r}"
                )
            return card
        plan = self._plans.plan(model, [profile], objective)[0]
        if plan.chosen is None:
            raise FailedPrecondition(f"not deploying to {profile}: {plan.summary}")
        return self._variants.get(plan.chosen.variant.variant_id)

    def deploy(
        self,
        *,
        model: str,
        profiles: Sequence[str] = (),
        device_ids: Sequence[str] = (),
        variant_id: str = "",
        objective: str = "min-energy",
        reason: str = "",
    ) -> list[Assignment]:
        """Set each targeted device's desired variant; unchanged desired states keep their generation."""
        devices = self._targets(profiles, device_ids)
        if not devices:
            raise NotFound("no enrolled device matches the target")
        chosen: dict[str, VariantCard] = {}
        for profile in sorted({d.profile for d in devices}):
            chosen[profile] = self._variant_for(model, profile, variant_id, objective)
        out = []
        for device in devices:
            out.append(self.assign(device, chosen[device.profile], reason or f"deploy {model}"))
        return out

    def assign(self, device: DeviceRecord, card: VariantCard, reason: str) -> Assignment:
        current = device.desired
        if current is not None and current.variant_id == card.variant_id:
            return Assignment(device.device_id, device.profile, current, changed=False)
        bundle = self._bundles.ensure(card.variant_id)
        runtime = self._plans.get_profile(device.profile).runtime
        desired = Desired(
            generation=(current.generation if current else 0) + 1,
            variant_id=card.variant_id,
            model=card.model,
            recipe=card.recipe,
            base_name=card.base_name,
            bundle_sha256=bundle.sha256,
            bundle_size=bundle.size,
            signature=bundle.signature,
            key_id=bundle.key_id,
            reason=reason,
            trial_seconds=self._trial_seconds,
            runtime=runtime,
        )
        self._store.put_device(replace(device, desired=desired, phase="", phase_reason=""))
        return Assignment(device.device_id, device.profile, desired, changed=True)
