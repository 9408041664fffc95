"""Load and validate profiles from TOML. Every error names the file, the field and the reason."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from importlib import resources
from pathlib import Path
from typing import Any

from edgefleet.core.errors import InvalidArgument, NotFound
from edgefleet.orchestrator.profiles.model import Budgets, Hardware, PowerModel, Profile
from edgefleet.orchestrator.service.names import check_name

__all__ = ["ProfileRegistry", "load_profile_file", "parse_profile"]

#: What an energy budget can judge (see Budgets.energy_measure).
ENERGY_MEASURES = ("dynamic", "gross")
_TOP = {"name", "description", "runtime", "full_integer_only", "sources", "hardware", "power", "budgets"}
_RUNTIMES = ("litert", "tflite-micro")
_POWER_KINDS = ("ops", "per-mac")


def _field(
    where: str, section: str, key: str, value: Any, kind: type, *, positive: bool, allow_zero: bool
) -> Any:
    name = f"{section}.{key}" if section else key
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidArgument(f"{where}: {name} must be true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise InvalidArgument(f"{where}: {name} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    if kind is int and (isinstance(value, float) and not value.is_integer()):
        raise InvalidArgument(f"{where}: {name} must be a whole number of bytes/cores, got {value!r}")
    if not math.isfinite(value):
        raise InvalidArgument(f"{where}: {name} must be finite, got {value!r}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidArgument(f"{where}: {name} must be {bound}, got {value!r}")
    return kind(value)


def _section(where: str, doc: Mapping[str, Any], section: str, cls: type, optional_zero: set[str]) -> Any:
    raw = doc.get(section)
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{where}: missing [{section}] table")
    known = {f.name: f for f in fields(cls)}
    unknown = set(raw) - set(known)
    if unknown:
        raise InvalidArgument(
            f"{where}: unknown key(s) in [{section}]: {sorted(unknown)}; known: {sorted(known)}"
        )
    values = {}
    for name, f in known.items():
        if name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                raise InvalidArgument(f"{where}: [{section}] needs {name}")
            continue
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(str(f.type), str)
        if name == "kind":
            kind = str
        values[name] = _field(
            where,
            section,
            name,
            raw[name],
            kind,
            positive=kind in (int, float),
            allow_zero=name in optional_zero,
        )
    return cls(**values)


def parse_profile(doc: Mapping[str, Any], *, origin: str) -> Profile:
    unknown = set(doc) - _TOP
    if unknown:
        raise InvalidArgument(f"{origin}: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP)}")
    for key in ("name", "runtime"):
        if key not in doc:
            raise InvalidArgument(f"{origin}: missing {key}")
    name = _field(origin, "", "name", doc["name"], str, positive=False, allow_zero=True)
    try:
        check_name("profile name", name)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{origin}: {exc.message}") from exc
    runtime = doc["runtime"]
    if runtime not in _RUNTIMES:
        raise InvalidArgument(f"{origin}: runtime must be one of {list(_RUNTIMES)}, got {runtime!r}")
    hardware = _section(origin, doc, "hardware", Hardware, {"storage_bytes", "sram_bytes", "flash_bytes"})
    power = _section(
        origin, doc, "power", PowerModel, {"energy_per_mac_joules", "macs_per_second", "idle_watts"}
    )
    if power.kind not in _POWER_KINDS:
        raise InvalidArgument(f"{origin}: power.kind must be one of {list(_POWER_KINDS)}, got {power.kind!r}")
    if power.kind == "per-mac" and power.energy_per_mac_joules <= 0:
        raise InvalidArgument(f"{origin}: power.kind = 'per-mac' needs power.energy_per_mac_joules > 0")
    if power.active_watts < power.idle_watts:
        raise InvalidArgument(
            f"{origin}: power.active_watts ({power.active_watts}) is below "
            f"power.idle_watts ({power.idle_watts})"
        )
    budgets = _section(origin, doc, "budgets", Budgets, {"max_accuracy_drop"})
    if budgets.energy_measure not in ENERGY_MEASURES:
        known = list(ENERGY_MEASURES)
        raise InvalidArgument(
            f"{origin}: budgets.energy_measure must be one of {known}, got {budgets.energy_measure!r}"
        )
    if not 0 < budgets.accuracy_floor <= 1:
        raise InvalidArgument(
            f"{origin}: budgets.accuracy_floor must be in (0, 1], got {budgets.accuracy_floor}"
        )
    if runtime == "tflite-micro" and (hardware.sram_bytes <= 0 or hardware.flash_bytes <= 0):
        raise InvalidArgument(
            f"{origin}: a tflite-micro profile needs hardware.sram_bytes and hardware.flash_bytes"
        )
    sources = doc.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise InvalidArgument(f"{origin}: sources must be a list of strings")
    return Profile(
        name=name,
        description=str(doc.get("description", "")),
        runtime=runtime,
        full_integer_only=_field(
            origin,
            "",
            "full_integer_only",
            doc.get("full_integer_only", False),
            bool,
            positive=False,
            allow_zero=True,
        ),
        hardware=hardware,
        power=power,
        budgets=budgets,
        sources=tuple(sources),
        origin=origin,
    )


def load_profile_file(path: Path) -> Profile:
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidArgument(f"{path}: no such profile file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path}: invalid TOML ({exc})") from exc
    return parse_profile(doc, origin=str(path))


def _builtin() -> list[Profile]:
    root = resources.files(__package__) / "builtin"
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out.append(parse_profile(tomllib.loads(entry.read_text()), origin="builtin"))
    return out


class ProfileRegistry:
    """Built-in profiles plus the user's (a file or a directory of *.toml); a user profile may replace one."""

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self._profiles: dict[str, Profile] = {}
        for p in profiles:
            self._profiles[p.name] = p

    @classmethod
    def load(cls, user_paths: Iterable[Path] = ()) -> ProfileRegistry:
        profiles = _builtin()
        for path in user_paths:
            files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
            profiles.extend(load_profile_file(f) for f in files)
        return cls(profiles)

    def names(self) -> list[str]:
        return sorted(self._profiles)

    def all(self) -> list[Profile]:
        return [self._profiles[n] for n in self.names()]

    def get(self, name: str) -> Profile:
        try:
            return self._profiles[name]
        except KeyError:
            raise NotFound(f"unknown profile {name!r}; known: {self.names()}") from None
