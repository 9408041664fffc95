"""Reading sysfs attribute files under an injectable root, with errors that say what went wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["SensorError", "Sysfs"]


class SensorError(Exception):
    """A sensor file is missing, unreadable or holds garbage; ``kind`` is missing|denied|garbage."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Sysfs:
    def __init__(self, root: Path = Path("/sys"), *, opener: Callable[[Path], str] | None = None) -> None:
        self.root = root
        self._read = opener or (lambda p: p.read_text())

    def path(self, relative: str) -> Path:
        return self.root / relative

    def text(self, path: Path) -> str:
        try:
            return self._read(path).strip()
        except FileNotFoundError as exc:
            raise SensorError("missing", f"{path}: no such file") from exc
        except PermissionError as exc:
            raise SensorError("denied", f"{path}: permission denied (needs root or a udev rule)") from exc
        except OSError as exc:
            raise SensorError("garbage", f"{path}: unreadable ({exc.strerror})") from exc

    def integer(self, path: Path) -> int:
        raw = self.text(path)
        try:
            return int(raw)
        except ValueError:
            raise SensorError("garbage", f"{path}: not an integer: {raw[:40]!r}") from None
