"""Artifact trust on the device: Ed25519 signatures over SHA-256 digests, several trusted keys."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["key_id_of", "verify_digest"]


def key_id_of(public_raw: bytes) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def verify_digest(public_raw: bytes, sha256_hex: str, signature: bytes) -> bool:
    """True when ``signature`` is the key's Ed25519 signature of the raw digest bytes."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, bytes.fromhex(sha256_hex))
    except (InvalidSignature, ValueError):
        return False
    return True
