"""Sensor meters. Paths and units: linux Documentation/hwmon/{ina2xx,ina3221,sysfs-interface}.rst,
Documentation/power/powercap/powercap.rst, Documentation/power/power_supply_class.rst."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from edgefleet.agent.energy.meters import CounterMeter, SampledMeter
from edgefleet.agent.energy.sysfs import SensorError, Sysfs

__all__ = [
    "BatteryMeter",
    "HwmonEnergyMeter",
    "HwmonPowerMeter",
    "Ina3221Meter",
    "PmicMeter",
    "RaplMeter",
    "run_command",
]


class RaplMeter(CounterMeter):
    """powercap/RAPL ``energy_uj`` (µJ, wraps at ``max_energy_range_uj``; root-only since Linux 5.10)."""

    min_window_s = 0.2

    def __init__(self, sysfs: Sysfs, zone: Path, zone_name: str) -> None:
        super().__init__()
        self._sysfs, self._zone = sysfs, zone
        self.name = f"rapl:{zone_name}"
        self._max = sysfs.integer(zone / "max_energy_range_uj")

    def read_uj(self) -> int:
        return self._sysfs.integer(self._zone / "energy_uj")

    def max_uj(self) -> int:
        return self._max


class HwmonEnergyMeter(CounterMeter):
    """Any hwmon ``energy*_input`` (cumulative µJ)."""

    def __init__(self, sysfs: Sysfs, path: Path, chip: str) -> None:
        super().__init__()
        self._sysfs, self._path = sysfs, path
        self.name = f"hwmon:{chip}:{path.name}"

    def read_uj(self) -> int:
        return self._sysfs.integer(self._path)


class HwmonPowerMeter(SampledMeter):
    """hwmon ``power*_input`` / ``power*_average`` (µW), e.g. INA2xx ``power1_input``.

    INA2xx computes power with its configured ``shunt_resistor`` (µΩ; driver default 10 mΩ).
    Breakout boards usually carry 0.1 Ω: when the real shunt is known and differs from the
    configured one, every reading is off by their ratio, so it is corrected here.
    """

    def __init__(self, sysfs: Sysfs, path: Path, chip: str, *, actual_shunt_uohm: int = 0) -> None:
        super().__init__()
        self._sysfs, self._path = sysfs, path
        self.name = f"hwmon:{chip}:{path.name}"
        self.scale = 1.0
        shunt_file = path.parent / "shunt_resistor"
        if actual_shunt_uohm and shunt_file.exists():
            configured = sysfs.integer(shunt_file)
            if configured > 0 and configured != actual_shunt_uohm:
                self.scale = configured / actual_shunt_uohm
                self.name += f" (shunt {configured}->{actual_shunt_uohm} µΩ)"
        if chip.startswith("ina219"):
            self.lsb_watts = 0.02 * self.scale  # 20 mW power LSB at the driver's default calibration

    def read_watts(self) -> float:
        return self._sysfs.integer(self._path) * 1e-6 * self.scale


class Ina3221Meter(SampledMeter):
    """INA3221 channel (no power file): P = in<k>_input mV x curr<k>_input mA."""

    def __init__(self, sysfs: Sysfs, chip_dir: Path, channel: int, label: str) -> None:
        super().__init__()
        self._sysfs, self._dir, self._k = sysfs, chip_dir, channel
        self.name = f"hwmon:ina3221:{label or f'channel{channel}'}"
        self.lsb_watts = 0.001 * 5  # 1 mA x ~5 V

    def read_watts(self) -> float:
        mv = self._sysfs.integer(self._dir / f"in{self._k}_input")
        ma = self._sysfs.integer(self._dir / f"curr{self._k}_input")
        return mv * ma * 1e-6


class BatteryMeter(SampledMeter):
    """power_supply battery: |V x I| (or |power_now|); only meaningful while discharging.

    Drivers disagree on the sign of current (system76/ec#468, powertop#173, collectd#3865),
    so the magnitude is used and the direction comes from ``status``.
    """

    rel_error = 0.10
    min_window_s = 30.0
    sample_hz = 1.0

    def __init__(self, sysfs: Sysfs, supply: Path) -> None:
        super().__init__()
        self._sysfs, self._dir = sysfs, supply
        self.name = f"battery:{supply.name}"

    def status(self) -> str:
        return self._sysfs.text(self._dir / "status")

    def read_watts(self) -> float:
        status = self.status()
        if status != "Discharging":
            raise SensorError(
                "garbage", f"battery {self._dir.name} is {status!r}: its power is not the device's draw"
            )
        power = self._dir / "power_now"
        if power.exists():
            return abs(self._sysfs.integer(power)) * 1e-6
        volts = self._sysfs.integer(self._dir / "voltage_now") * 1e-6
        amps = self._sysfs.integer(self._dir / "current_now") * 1e-6
        return abs(volts * amps)


def run_command(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=True).stdout


_PMIC = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([0-9.]+)[AV]\s*$")


class PmicMeter(SampledMeter):
    """Raspberry Pi 5 PMIC via ``vcgencmd pmic_read_adc``: sum of rail V x I, corrected for the 5 V
    loads outside the PMIC with the fit P = 1.1451 x sum + 0.5879 W (jfikar/RPi5-power)."""

    kind = "derived"
    rel_error = 0.10
    sample_hz = 1.0
    min_window_s = 30.0

    def __init__(self, runner: Callable[[Sequence[str]], str] = run_command) -> None:
        super().__init__()
        self._run = runner
        self.name = "pmic:vcgencmd+cal"

    def read_watts(self) -> float:
        try:
            out = self._run(["vcgencmd", "pmic_read_adc"])
        except (OSError, subprocess.SubprocessError) as exc:
            raise SensorError("missing", f"vcgencmd pmic_read_adc failed: {exc}") from exc
        amps: dict[str, float] = {}
        volts: dict[str, float] = {}
        for line in out.splitlines():
            m = _PMIC.match(line)
            if m:
                (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
        rails = sorted(set(amps) & set(volts))
        if not rails:
            raise SensorError(
                "garbage", "vcgencmd pmic_read_adc printed no rail with both current and voltage"
            )
        return 1.1451 * sum(amps[r] * volts[r] for r in rails) + 0.5879
