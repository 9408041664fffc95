"""Ed25519 signing of artifacts. The orchestrator generates its key on first start.

The signature covers the 32 raw bytes of the artifact's SHA-256 digest. Public
keys are exported as raw 32-byte files (``keys/signing-<key_id>.pub``) for
agents; several trusted keys allow rotation.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.fsutil import atomic_write
from edgefleet.core.trust import key_id_of, verify_digest

__all__ = ["PublicKey", "Signer", "key_id_of", "verify_digest"]


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: str
    raw: bytes


class Signer:
    def __init__(self, private: Ed25519PrivateKey, keys_dir: Path | None = None) -> None:
        self._private = private
        self.keys_dir = keys_dir
        self._trusted_cache: tuple[tuple[str, ...], list[PublicKey]] | None = None
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey(key_id_of(raw), raw)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> Signer:
        """Load ``signing.key`` (PEM, mode 0600) or create it; export the public key beside it."""
        keys_dir.mkdir(parents=True, exist_ok=True)
        path = keys_dir / "signing.key"
        if path.exists():
            try:
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except ValueError as exc:
                raise FailedPrecondition(f"{path}: unreadable signing key ({exc})") from exc
            if not isinstance(private, Ed25519PrivateKey):
                raise FailedPrecondition(f"{path}: not an Ed25519 private key")
        else:
            private = Ed25519PrivateKey.generate()
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            # Replicas starting together on a shared directory: the first link wins, the others load it.
            fd, tmp = tempfile.mkstemp(dir=keys_dir, prefix=".signing-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(pem)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.link(tmp, path)
            except FileExistsError:
                return cls.load_or_create(keys_dir)
            finally:
                Path(tmp).unlink()
        signer = cls(private, keys_dir)
        atomic_write(keys_dir / f"signing-{signer.public.key_id}.pub", signer.public.raw)
        return signer

    def trusted_keys(self) -> list[PublicKey]:
        """The keys agents trust now. Sent on every connection, so the key files are read again only when
        the directory's listing changed (a rotation adds a key file, a retirement removes one)."""
        if self.keys_dir is None:
            return [self.public]
        stamp = tuple(sorted(p.name for p in self.keys_dir.iterdir()))
        if self._trusted_cache is None or self._trusted_cache[0] != stamp:
            keys = self.trusted(self.keys_dir)
            keys = keys if any(k.key_id == self.public.key_id for k in keys) else [self.public, *keys]
            self._trusted_cache = (stamp, keys)
        return list(self._trusted_cache[1])

    @staticmethod
    def trusted(keys_dir: Path) -> list[PublicKey]:
        """Every public key agents should trust: the active one and those not yet retired
        (``signing-<key_id>.pub``). Rotation keeps old bundles verifiable until their key is retired."""
        keys = []
        for path in sorted(keys_dir.glob("signing-*.pub")):
            raw = path.read_bytes()
            if len(raw) != 32 or path.stem != f"signing-{key_id_of(raw)}":
                raise FailedPrecondition(f"{path}: not a raw Ed25519 public key named by its key id")
            keys.append(PublicKey(key_id_of(raw), raw))
        return keys

    @classmethod
    def rotate(cls, keys_dir: Path) -> tuple[PublicKey, PublicKey]:
        """A new active key; the old one stays trusted (its .pub file) until retired. Returns (old, new)."""
        old = cls.load_or_create(keys_dir).public
        path = keys_dir / "signing.key"
        path.replace(keys_dir / f"signing-{old.key_id}.key.retired")
        return old, cls.load_or_create(keys_dir).public

    @staticmethod
    def retire(keys_dir: Path, key_id: str) -> None:
        """Stop trusting a key: agents drop it at their next connection."""
        active = Signer.load_or_create(keys_dir).public.key_id
        if key_id == active:
            raise FailedPrecondition(f"key {key_id} is the active signing key; rotate first")
        pub = keys_dir / f"signing-{key_id}.pub"
        if not pub.exists():
            raise FailedPrecondition(f"no trusted key {key_id!r} in {keys_dir}")
        pub.unlink()

    def sign_digest(self, sha256_hex: str) -> bytes:
        return self._private.sign(bytes.fromhex(sha256_hex))
