"""Fake sysfs trees in a tmp dir, shaped like the kernel's (this machine has no energy sensor)."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, relative: str, value: object) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    update(path, value)
    return path


def update(path: Path, value: object) -> None:
    """A new value, as the kernel shows one: a reader sees the old value or the new, never an empty or
    half-written file (``write_text`` truncates first, and a sampler reading then got ``''``)."""
    partial = path.with_name(f".{path.name}.new")
    partial.write_text(f"{value}\n")
    partial.replace(path)


def rapl(
    root: Path, *, energy_uj: int, max_uj: int, name: str = "package-0", zone: str = "intel-rapl:0"
) -> Path:
    base = f"class/powercap/{zone}"
    write(root, f"{base}/name", name)
    write(root, f"{base}/max_energy_range_uj", max_uj)
    return write(root, f"{base}/energy_uj", energy_uj)


def ina219(root: Path, *, power_uw: int, shunt_uohm: int = 10000, hwmon: str = "hwmon0") -> Path:
    write(root, f"class/hwmon/{hwmon}/name", "ina219")
    write(root, f"class/hwmon/{hwmon}/shunt_resistor", shunt_uohm)
    write(root, f"class/hwmon/{hwmon}/in1_input", 5000)
    return write(root, f"class/hwmon/{hwmon}/power1_input", power_uw)


def ina3221(root: Path, channels: dict[int, tuple[str, int, int]], hwmon: str = "hwmon1") -> Path:
    """channels: k -> (label, mV, mA)."""
    base = f"class/hwmon/{hwmon}"
    write(root, f"{base}/name", "ina3221")
    for k, (label, mv, ma) in channels.items():
        write(root, f"{base}/in{k}_label", label)
        write(root, f"{base}/in{k}_input", mv)
        write(root, f"{base}/curr{k}_input", ma)
    return root / base


def battery(root: Path, *, status: str, voltage_uv: int, current_ua: int, name: str = "BAT0") -> Path:
    base = f"class/power_supply/{name}"
    write(root, f"{base}/type", "Battery")
    write(root, f"{base}/status", status)
    write(root, f"{base}/voltage_now", voltage_uv)
    write(root, f"{base}/current_now", current_ua)
    return root / base
