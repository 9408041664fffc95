"""Find the meters this device has, in priority order; report why each missing one is missing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from edgefleet.agent.energy.estimators import CpuTimeEstimator
from edgefleet.agent.energy.meters import Meter, Probe
from edgefleet.agent.energy.sensors import (
    BatteryMeter,
    HwmonEnergyMeter,
    HwmonPowerMeter,
    Ina3221Meter,
    PmicMeter,
    RaplMeter,
    run_command,
)
from edgefleet.agent.energy.sysfs import SensorError, Sysfs

__all__ = ["probe_meters"]

_RAIL_LABELS = ("VDD_IN", "POM_5V_IN", "VIN", "5V")


def _hwmon(sysfs: Sysfs, actual_shunt_uohm: int) -> tuple[list[Meter], list[Probe]]:
    meters: list[Meter] = []
    probes: list[Probe] = []
    root = sysfs.path("class/hwmon")
    for chip_dir in sorted(root.glob("hwmon*")) if root.exists() else []:
        try:
            chip = sysfs.text(chip_dir / "name")
        except SensorError as exc:
            probes.append(Probe(f"hwmon:{chip_dir.name}", False, str(exc)))
            continue
        found: list[Meter] = []
        for energy in sorted(chip_dir.glob("energy*_input")):
            found.append(HwmonEnergyMeter(sysfs, energy, chip))
        for power in sorted(chip_dir.glob("power*_input")) + sorted(chip_dir.glob("power*_average")):
            found.append(HwmonPowerMeter(sysfs, power, chip, actual_shunt_uohm=actual_shunt_uohm))
        if chip == "ina3221":
            channels = []
            for k in (1, 2, 3):
                if not (chip_dir / f"curr{k}_input").exists():
                    continue
                label_file = chip_dir / f"in{k}_label"
                label = sysfs.text(label_file) if label_file.exists() else ""
                if label.upper() == "NC":
                    continue
                channels.append(Ina3221Meter(sysfs, chip_dir, k, label))
            # board input rail first (total power), then the rest
            channels.sort(key=lambda m: 0 if any(r in m.name.upper() for r in _RAIL_LABELS) else 1)
            found.extend(channels)
        for meter in found:
            try:
                meter.begin(0)
                probes.append(Probe(meter.name, True))
                meters.append(meter)
            except SensorError as exc:
                probes.append(Probe(meter.name, False, str(exc)))
    return meters, probes


def _rapl(sysfs: Sysfs) -> tuple[list[Meter], list[Probe]]:
    meters: list[Meter] = []
    probes: list[Probe] = []
    root = sysfs.path("class/powercap")
    zones = sorted(root.glob("intel-rapl:*")) if root.exists() else []
    for zone in zones:
        if zone.name.count(":") > 1:
            continue  # sub-zones (core, uncore, dram) are inside their package
        try:
            name = sysfs.text(zone / "name")
            meter = RaplMeter(sysfs, zone, name)
            meter.begin(0)
        except SensorError as exc:
            probes.append(Probe(f"rapl:{zone.name}", False, str(exc)))
            continue
        probes.append(Probe(meter.name, True))
        meters.append(meter)
    # psys (the whole platform) beats package when both exist (Scaphandre, PowerJoular)
    meters.sort(key=lambda m: 0 if m.name.endswith("psys") else 1)
    return meters, probes


def _battery(sysfs: Sysfs) -> tuple[list[Meter], list[Probe]]:
    root = sysfs.path("class/power_supply")
    meters: list[Meter] = []
    probes: list[Probe] = []
    for supply in sorted(root.iterdir()) if root.exists() else []:
        try:
            if sysfs.text(supply / "type") != "Battery":
                continue
        except SensorError:
            continue
        meter = BatteryMeter(sysfs, supply)
        try:
            meter.status()
            probes.append(Probe(meter.name, True))
            meters.append(meter)
        except SensorError as exc:
            probes.append(Probe(meter.name, False, str(exc)))
    return meters, probes


def probe_meters(
    *,
    sysfs: Sysfs,
    idle_watts: float,
    active_watts: float,
    cores: int,
    actual_shunt_uohm: int = 0,
    runner: Callable[[Sequence[str]], str] = run_command,
    pmic: bool = True,
) -> tuple[Meter, list[Probe]]:
    """The best meter here and the probe of every candidate (sensors first, estimators last)."""
    probes: list[Probe] = []
    candidates: list[Meter] = []
    for found, seen in (_hwmon(sysfs, actual_shunt_uohm), _rapl(sysfs)):
        candidates += found
        probes += seen
    if pmic and Path(sysfs.root / "firmware/devicetree/base/model").exists():
        model = sysfs.text(sysfs.root / "firmware/devicetree/base/model")
        if "Raspberry Pi 5" in model:
            meter = PmicMeter(runner)
            try:
                meter.read_watts()
                candidates.append(meter)
                probes.append(Probe(meter.name, True))
            except SensorError as exc:
                probes.append(Probe(meter.name, False, str(exc)))
    found, seen = _battery(sysfs)
    candidates += found
    probes += seen
    estimator = CpuTimeEstimator(idle_watts=idle_watts, active_watts=active_watts, cores=cores)
    probes.append(Probe(estimator.name, True, "always available (estimate)"))
    if not any(p.available for p in probes[:-1]):
        probes.insert(0, Probe("sensors", False, f"no energy sensor under {sysfs.root}: energy is estimated"))
    return (candidates[0] if candidates else estimator), probes
