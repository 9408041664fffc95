"""Energy meters: sensors first (hwmon rails, RAPL, Pi 5 PMIC, battery), labelled estimators last."""

from agent.energy.meters import EnergyReading, Meter, Probe
from agent.energy.probe import probe_meters

__all__ = ["EnergyReading", "Meter", "Probe", "probe_meters"]
