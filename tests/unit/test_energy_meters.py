"""Energy meters against fake sysfs trees (built in tmp dirs; this machine has no sensor)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from edgefleet.agent.energy.estimators import CpuTimeEstimator
from edgefleet.agent.energy.meters import SampledMeter, WindowContext, trapezoid
from edgefleet.agent.energy.probe import probe_meters
from edgefleet.agent.energy.sensors import BatteryMeter, HwmonPowerMeter, Ina3221Meter, PmicMeter, RaplMeter
from edgefleet.agent.energy.sysfs import SensorError, Sysfs
from tests.helpers import fakesys

S = 1_000_000_000  # ns per second
CTX = WindowContext()


def probe(root: Path, **kw: object):  # type: ignore[no-untyped-def]
    return probe_meters(sysfs=Sysfs(root), idle_watts=2.0, active_watts=6.0, cores=4, pmic=False, **kw)  # type: ignore[arg-type]


def test_rapl_wrap_around(tmp_path: Path) -> None:
    counter = fakesys.rapl(tmp_path, energy_uj=900, max_uj=1000)
    meter = RaplMeter(Sysfs(tmp_path), counter.parent, "package-0")
    meter.begin(0)
    counter.write_text("100\n")
    reading = meter.end(S, CTX)
    assert reading.joules == pytest.approx(200e-6)  # (1000 - 900) + 100 µJ
    assert reading.method == "rapl:package-0"
    assert reading.kind == "measured"
    assert reading.flags == ()


def test_rapl_permission_denied_is_the_reason_it_is_unavailable(tmp_path: Path) -> None:
    counter = fakesys.rapl(tmp_path, energy_uj=5, max_uj=1000)

    def opener(path: Path) -> str:
        if path == counter:
            raise PermissionError(13, "Permission denied")
        return path.read_text()

    meter, probes = probe_meters(
        sysfs=Sysfs(tmp_path, opener=opener), idle_watts=2.0, active_watts=6.0, cores=4, pmic=False
    )
    assert meter.name == "estimate:cpu-time"
    rapl = next(p for p in probes if p.name.startswith("rapl"))
    assert not rapl.available
    assert "permission denied" in rapl.reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files")
def test_rapl_mode_000_file(tmp_path: Path) -> None:
    counter = fakesys.rapl(tmp_path, energy_uj=5, max_uj=1000)
    counter.chmod(0)
    with pytest.raises(SensorError, match="permission denied"):
        Sysfs(tmp_path).integer(counter)


def test_ina219_with_a_0_1_ohm_shunt(tmp_path: Path) -> None:
    # The driver believes the default 10 mOhm shunt; the breakout has 0.1 Ohm: readings are 10x too high.
    power = fakesys.ina219(tmp_path, power_uw=25_000_000, shunt_uohm=10_000)
    meter = HwmonPowerMeter(Sysfs(tmp_path), power, "ina219", actual_shunt_uohm=100_000)
    assert meter.read_watts() == pytest.approx(2.5)
    assert "shunt 10000->100000" in meter.name
    # once shunt_resistor is set right (echo 100000 > shunt_resistor), no correction
    fakesys.write(tmp_path, "class/hwmon/hwmon0/shunt_resistor", 100_000)
    power.write_text("2500000\n")
    assert HwmonPowerMeter(
        Sysfs(tmp_path), power, "ina219", actual_shunt_uohm=100_000
    ).read_watts() == pytest.approx(2.5)


def test_ina3221_channel_power_and_rail_choice(tmp_path: Path) -> None:
    chip = fakesys.ina3221(tmp_path, {1: ("VDD_CPU", 1000, 500), 2: ("NC", 0, 0), 3: ("VDD_IN", 5000, 1200)})
    assert Ina3221Meter(Sysfs(tmp_path), chip, 3, "VDD_IN").read_watts() == pytest.approx(6.0)  # 5 V x 1.2 A
    meter, probes = probe(tmp_path)
    assert meter.name == "hwmon:ina3221:VDD_IN"  # the board's input rail, not a sub-rail
    assert not any("NC" in p.name for p in probes)


@pytest.mark.parametrize(
    ("status", "current_ua", "watts"),
    [
        ("Discharging", -1_500_000, 6.0),  # ABI sign: negative while discharging
        ("Discharging", 1_500_000, 6.0),  # drivers that report magnitudes
        ("Charging", 1_500_000, None),
        ("Charging", -1_500_000, None),
        ("Full", 0, None),
    ],
)
def test_battery_sign_and_status(tmp_path: Path, status: str, current_ua: int, watts: float | None) -> None:
    supply = fakesys.battery(tmp_path, status=status, voltage_uv=4_000_000, current_ua=current_ua)
    meter = BatteryMeter(Sysfs(tmp_path), supply)
    if watts is None:
        with pytest.raises(SensorError, match="not the device's draw"):
            meter.read_watts()
    else:
        assert meter.read_watts() == pytest.approx(watts)


class _Curve(SampledMeter):
    name = "test:curve"

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0

    def read_watts(self) -> float:
        return 2.0 + math.sin(self.t)


def test_trapezoid_integration_against_an_analytic_power_curve() -> None:
    meter = _Curve()
    meter.begin(0)
    steps = 1000
    for i in range(1, steps):
        meter.t = math.pi * i / steps
        meter.sample(int(meter.t * S))
    meter.t = math.pi
    reading = meter.end(int(math.pi * S), CTX)
    analytic = 2.0 * math.pi + 2.0  # integral of 2 + sin(t) over [0, pi]
    assert reading.joules == pytest.approx(analytic, rel=1e-5)
    assert reading.n_samples == steps + 1
    assert trapezoid([(0, 1.0), (S, 3.0)]) == pytest.approx(2.0)


def test_idle_subtraction_with_the_cpu_time_estimator() -> None:
    est = CpuTimeEstimator(idle_watts=2.0, active_watts=6.0, cores=4)
    est.begin(0)
    reading = est.end(10 * S, WindowContext(cpu_seconds=5.0, inferences=1000))
    # gross: 2 W x 10 s + 5 CPU-s x 1 W per core = 25 J; dynamic (idle subtracted) = 5 J
    assert reading.joules == pytest.approx(25.0)
    assert reading.joules - est.idle_watts * reading.seconds == pytest.approx(5.0)
    assert reading.kind == "estimated"


def test_garbage_absurd_and_backwards_readings_are_flagged(tmp_path: Path) -> None:
    power = fakesys.ina219(tmp_path, power_uw=3_000_000)
    meter = HwmonPowerMeter(Sysfs(tmp_path), power, "ina219")
    meter.begin(0)
    power.write_text("not-a-number\n")
    meter.sample(S)
    power.write_text("-5000000\n")
    meter.sample(2 * S)
    power.write_text("99000000000\n")
    meter.sample(3 * S)
    power.write_text("3000000\n")
    meter.sample(4 * S)
    meter.sample(3 * S)  # the clock went backwards
    reading = meter.end(5 * S, CTX)
    flags = " | ".join(reading.flags)
    assert "not an integer" in flags
    assert "absurd reading -5 W" in flags
    assert "absurd reading 9.9e+04 W" in flags
    assert "clock went backwards" in flags
    assert reading.joules == pytest.approx(3.0 * 5)  # only the good samples are integrated


def test_counter_reset_and_clock_backwards_are_flagged(tmp_path: Path) -> None:
    power = fakesys.write(tmp_path, "class/hwmon/hwmon0/energy1_input", 5_000_000)
    fakesys.write(tmp_path, "class/hwmon/hwmon0/name", "acpi_power")
    meter, _ = probe(tmp_path)
    assert meter.name == "hwmon:acpi_power:energy1_input"
    meter.begin(2 * S)
    power.write_text("1000\n")
    reading = meter.end(S, CTX)
    assert any("reset" in f for f in reading.flags)
    assert any("clock went backwards" in f for f in reading.flags)


def test_no_sensor_means_an_estimate_that_says_so(tmp_path: Path) -> None:
    meter, probes = probe(tmp_path)
    assert meter.name == "estimate:cpu-time"
    assert meter.kind == "estimated"
    assert "no energy sensor" in probes[0].reason


def test_pi5_pmic_with_a_golden_output() -> None:
    golden = "\n".join(
        [
            "     VDD_CORE_A current(7)=0.75000000A",
            "     VDD_CORE_V volt(15)=0.72000000V",
            "      3V3_SYS_A current(1)=0.10000000A",
            "      3V3_SYS_V volt(9)=3.30000000V",
            "       EXT5V_V volt(24)=5.12000000V",
        ]
    )
    meter = PmicMeter(lambda argv: golden)
    assert meter.read_watts() == pytest.approx(1.1451 * (0.75 * 0.72 + 0.1 * 3.3) + 0.5879)
    assert meter.kind == "derived"
