"""The fleet: devices, their identity, what they report and what they should run."""
