"""Telemetry: measurement windows, a disk outbox, delivery at least once."""
