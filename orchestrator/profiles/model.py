"""Profile domain objects. Every figure has a unit in its name; validation names the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Budgets", "Hardware", "PowerModel", "Profile", "RuntimeKind"]

RuntimeKind = Literal["litert", "tflite-micro"]


@dataclass(frozen=True, slots=True)
class Hardware:
    cores: int
    ram_bytes: int
    storage_bytes: int = 0
    #: MCU-class targets: on-chip SRAM (activations) and flash (weights), 0 when not applicable.
    sram_bytes: int = 0
    flash_bytes: int = 0
    cpu: str = ""


@dataclass(frozen=True, slots=True)
class PowerModel:
    """How energy and latency are estimated before a device of this profile has measured anything.

    ``ops``: the operation-count lower bound (Horowitz 45 nm) x ``ops_scale``, a prior calibration
    factor that device measurements correct. ``per-mac``: MACs x ``energy_per_mac_joules`` (MCUs).
    Latency: host p95 x ``latency_scale``, or MACs / ``macs_per_second`` when that is set.
    """

    idle_watts: float
    active_watts: float
    kind: Literal["ops", "per-mac"] = "ops"
    ops_scale: float = 1.0
    energy_per_mac_joules: float = 0.0
    #: per-mac: a float32 MAC costs this many int8 MACs (int16: half of it).
    float_mac_factor: float = 4.0
    latency_scale: float = 1.0
    macs_per_second: float = 0.0


@dataclass(frozen=True, slots=True)
class Budgets:
    accuracy_floor: float
    max_energy_joules: float
    max_latency_p95_seconds: float
    max_model_bytes: int
    max_peak_memory_bytes: int
    #: Largest accuracy loss accepted against the float32 base of the same width (0.01 = 1 point).
    max_accuracy_drop: float = 1.0
    #: Which energy per inference the energy budget judges: "dynamic" (the idle baseline subtracted: what
    #: the inference itself costs) or "gross" (window energy / inferences, MLPerf style).
    energy_measure: str = "dynamic"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    runtime: RuntimeKind
    full_integer_only: bool
    hardware: Hardware
    power: PowerModel
    budgets: Budgets
    sources: tuple[str, ...] = field(default=())
    #: "builtin" or the file it came from.
    origin: str = "builtin"
