"""edgefleet agent: the device daemon (runtime wrapper, A/B slots, energy meters, telemetry)."""

__version__ = "0.1.0"
