"""edgefleet agent: the device daemon (runtime wrapper, A/B slots, energy meters, telemetry)."""
