"""Energy meters: sensors first (hwmon rails, RAPL, Pi 5 PMIC, battery), labelled estimators last."""

from edgefleet.agent.energy.meters import EnergyReading, Meter, Probe
from edgefleet.agent.energy.probe import probe_meters

__all__ = ["EnergyReading", "Meter", "Probe", "probe_meters"]
