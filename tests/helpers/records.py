"""Domain records for store tests (devices, rollouts, windows, events), with only what a test varies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from edgefleet.orchestrator.fleet.model import DeviceRecord, WindowRecord
from edgefleet.orchestrator.rollout.model import DeviceRolloutState, RolloutRecord
from edgefleet.orchestrator.rollout.policy import Policy

__all__ = ["device", "rollout", "window"]

WINDOW = WindowRecord(
    device_id="rpi4-1",
    profile="rpi4",
    seq=1,
    variant_id="v" * 64,
    model="digits",
    recipe="fp32",
    start=100.0,
    end=110.0,
    inferences=200,
    gross_j=2e-4,
    dynamic_j=5e-5,
    sigma_j=1e-6,
    energy_kind="measured",
    energy_method="hwmon:ina219:power1_input",
    latency_p50_s=1e-4,
    latency_p95_s=2e-4,
    latency_p99_s=3e-4,
    labelled=200,
    correct=190,
    cpu_percent=30.0,
    rss_bytes=10**8,
    temperature_c=None,
    flags=(),
)


def window(seq: int, device_id: str = "rpi4-1", **changes: Any) -> WindowRecord:
    """Window ``seq`` of a device: 10 s long, ending at 100 + 10 * seq unless told otherwise."""
    end = changes.pop("end", 100.0 + 10.0 * seq)
    return replace(WINDOW, seq=seq, device_id=device_id, start=end - 10.0, end=end, **changes)


def device(device_id: str = "rpi4-1", profile: str = "rpi4", **changes: Any) -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id,
        name=device_id,
        profile=profile,
        labels={"site": "lab"},
        secret_hash="h" * 64,
        created=1.0,
        **changes,
    )


def rollout(rollout_id: str = "ro-1", model: str = "digits", **changes: Any) -> RolloutRecord:
    fields: dict[str, Any] = {
        "rollout_id": rollout_id,
        "model": model,
        "policies": {"rpi4": Policy(accuracy_floor=0.9, max_energy_joules=1.0, max_latency_p95_seconds=1.0)},
        "variants": {"rpi4": "v" * 64},
        "previous": {"rpi4-1": ""},
        "waves": [["rpi4-1"]],
        "wave": 0,
        "wave_started": 1.0,
        "state": "running",
        "state_reason": "",
        "created": 1.0,
        "updated": 1.0,
        "devices": {"rpi4-1": DeviceRolloutState()},
    }
    return RolloutRecord(**{**fields, **changes})
