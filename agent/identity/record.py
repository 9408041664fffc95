"""The device's identity, kept in its data directory after a one-time enrolment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.fsutil import atomic_write

__all__ = ["Identity", "TrustedKey"]


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key_id: str
    public_key_hex: str

    @property
    def raw(self) -> bytes:
        return bytes.fromhex(self.public_key_hex)


@dataclass(frozen=True, slots=True)
class Identity:
    device_id: str
    secret: str
    profile: str
    orchestrator: str
    trusted_keys: tuple[TrustedKey, ...]
    #: True: the device authenticates with its certificate (DATA_DIR/tls); False: bearer secret (insecure).
    mtls: bool = False

    @staticmethod
    def path(data_dir: Path) -> Path:
        return data_dir / "identity.json"

    @classmethod
    def load(cls, data_dir: Path) -> Identity | None:
        path = cls.path(data_dir)
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text())
            keys = tuple(TrustedKey(**k) for k in doc.pop("trusted_keys"))
            return cls(**doc, trusted_keys=keys)
        except (ValueError, TypeError, KeyError) as exc:
            raise FailedPrecondition(
                f"{path}: unreadable identity ({exc}); remove it to enrol again"
            ) from exc

    def save(self, data_dir: Path) -> None:
        doc = asdict(self)
        atomic_write(self.path(data_dir), json.dumps(doc, indent=2).encode(), mode=0o600)

    def trusted(self) -> dict[str, bytes]:
        return {k.key_id: k.raw for k in self.trusted_keys}
