"""Orchestrator configuration: TOML file, then environment, then flags; loaded once, frozen.

    [server]
    listen = "127.0.0.1:50051"
    data_dir = "/var/lib/edgefleet"
    max_message_mb = 64
    build_workers = 1

    profiles = ["/etc/edgefleet/profiles"]   # files or directories of *.toml

Environment: EDGEFLEET_LISTEN, EDGEFLEET_DATA_DIR, EDGEFLEET_MAX_MESSAGE_MB, EDGEFLEET_BUILD_WORKERS,
EDGEFLEET_PROFILES (paths separated by ':').

"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from agent.errors import InvalidArgument

__all__ = ["ServerConfig", "load_config"]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:50051"
    data_dir: Path = Path(".edgefleet")
    max_message_mb: int = 64
    build_workers: int = 1
    #: User profiles: TOML files or directories of them, added to (or replacing) the built-ins.
    profiles: tuple[Path, ...] = ()

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024

    @property
    def db_path(self) -> Path:
        return self.data_dir / "edgefleet.sqlite"

    def __post_init__(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise InvalidArgument(f"listen: expected HOST:PORT (port 0-65535), got {self.listen!r}")
        if not 1 <= self.max_message_mb <= 1024:
            raise InvalidArgument(f"max_message_mb: expected 1-1024, got {self.max_message_mb}")
        if not 1 <= self.build_workers <= 64:
            raise InvalidArgument(f"build_workers: expected 1-64, got {self.build_workers}")


_ENV = {
    "listen": "EDGEFLEET_LISTEN",
    "data_dir": "EDGEFLEET_DATA_DIR",
    "max_message_mb": "EDGEFLEET_MAX_MESSAGE_MB",
    "build_workers": "EDGEFLEET_BUILD_WORKERS",
    "profiles": "EDGEFLEET_PROFILES",
}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = {f.name: f.type for f in fields(ServerConfig)}[name]
    try:
        if kind in ("int", int):
            if isinstance(value, bool):
                raise ValueError("a boolean")
            return int(value)
        if kind in ("Path", Path):
            return Path(str(value)).expanduser()
        if name == "profiles":
            items = value.split(":") if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str | Path) for i in items):
                raise ValueError("a list of paths")
            return tuple(Path(str(i)).expanduser() for i in items if str(i))
        if not isinstance(value, str):
            raise ValueError(f"a {type(value).__name__}")
        return value
    except ValueError as exc:
        raise InvalidArgument(f"{source}: {name} must be {kind}, got {value!r} ({exc})") from exc


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults < TOML ``[server]`` < environment < overrides (flags); ``None`` overrides are ignored."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InvalidArgument(f"{path}: no such configuration file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"{path}: invalid TOML ({exc})") from exc
        section = doc.get("server", {})
        unknown = set(section) - set(_ENV)
        if unknown:
            raise InvalidArgument(f"{path}: unknown [server] key(s) {sorted(unknown)}; known: {sorted(_ENV)}")
        values.update({k: _coerce(k, v, str(path)) for k, v in section.items()})
    for name, var in _ENV.items():
        if env and var in env:
            values[name] = _coerce(name, env[var], var)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    return replace(ServerConfig(), **values)
