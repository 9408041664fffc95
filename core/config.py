"""Layered configuration for both daemons: defaults < TOML section < environment < flags.

Loaded once at the entry point into a frozen dataclass; nothing is read at import time.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar

from edgefleet.core.errors import InvalidArgument

__all__ = ["load_layered"]

T = TypeVar("T")


def _coerce(kind: str, name: str, value: Any, source: str) -> Any:
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("a boolean")
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("a boolean")
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError("not a boolean")
                return value.lower() in ("1", "true", "yes")
            return bool(value)
        if kind in ("Path", "Path | None"):
            return Path(str(value)).expanduser()
        if kind.startswith("tuple[Path"):
            items = value.split(":") if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise ValueError("a list of paths")
            return tuple(Path(str(i)).expanduser() for i in items if str(i))
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"a {type(value).__name__}")
            return value
    except ValueError as exc:
        raise InvalidArgument(f"{source}: {name} must be {kind}, got {value!r} ({exc})") from exc
    return value


def load_layered(
    cls: Callable[..., T],
    *,
    section: str,
    env_names: Mapping[str, str],
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> T:
    """Build ``cls`` (a frozen dataclass) from defaults, ``[section]`` of ``path``, ``env``, ``overrides``.

    ``None`` overrides are ignored (an unset flag); errors name the file, variable or flag.
    """
    kinds = {f.name: str(f.type) for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise InvalidArgument(f"{path}: no such configuration file") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"{path}: invalid TOML ({exc})") from exc
        table = doc.get(section, {})
        unknown = set(table) - set(kinds)
        if unknown:
            raise InvalidArgument(
                f"{path}: unknown [{section}] key(s) {sorted(unknown)}; known: {sorted(kinds)}"
            )
        values.update({k: _coerce(kinds[k], k, v, str(path)) for k, v in table.items()})
    for name, var in env_names.items():
        if env and var in env:
            values[name] = _coerce(kinds[name], name, env[var], var)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(kinds[name], name, value, f"--{name.replace('_', '-')}")
    return replace(cls(), **values)  # type: ignore[type-var]
