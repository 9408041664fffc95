"""The figures selection compares: measured on devices of the profile when enough exist, else estimated."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = [
    "MIN_WINDOWS",
    "Correction",
    "Figures",
    "MeasuredFigures",
    "estimate",
    "figures_for",
    "learn_correction",
]

#: Measured figures replace estimates once this many telemetry windows exist for (profile, variant).
MIN_WINDOWS = 5
#: Device accuracy replaces host accuracy once this many labelled samples exist.
MIN_LABELLED = 200


@dataclass(frozen=True, slots=True)
class MeasuredFigures:
    """Aggregated device telemetry of one variant on one profile."""

    windows: int
    energy_joules: float
    energy_sigma: float
    #: "measured" (a sensor) or "estimated" (the device had none: CPU time x power).
    energy_kind: str
    energy_method: str
    latency_p95_s: float | None = None
    labelled: int = 0
    correct: int = 0


@dataclass(frozen=True, slots=True)
class Correction:
    """Measured / estimated energy on this profile (geometric mean over measured variants)."""

    factor: float = 1.0
    variants: int = 0


@dataclass(frozen=True, slots=True)
class Figures:
    accuracy: float | None
    accuracy_source: str
    #: Accuracy of the float32 base of the same width (for the max-drop budget).
    base_accuracy: float | None
    energy_j: float
    energy_sigma_j: float
    energy_kind: str
    energy_source: str
    latency_p95_s: float
    latency_kind: str
    size_bytes: int
    peak_memory_bytes: int
    windows: int = 0


def _mac_factor(profile: Profile, dtype: str) -> float:
    if dtype.startswith("float"):
        return profile.power.float_mac_factor
    if dtype == "int16":
        return max(1.0, profile.power.float_mac_factor / 2)
    return 1.0


def estimate(card: VariantCard, profile: Profile) -> tuple[float, float, str]:
    """(energy J, latency p95 s, method) before any device measured anything."""
    power, facts = profile.power, card.facts
    factor = _mac_factor(profile, facts.compute_dtype)
    if power.kind == "per-mac":
        energy = facts.total_macs * power.energy_per_mac_joules * factor
        method = (
            f"estimate:per-mac ({power.energy_per_mac_joules:.1e} J/MAC x{factor:g} {facts.compute_dtype})"
        )
    else:
        energy = card.ops_energy.total_j * power.ops_scale
        method = f"estimate:ops (45 nm op count x{power.ops_scale:g})"
    if power.macs_per_second > 0:
        latency = facts.total_macs * factor / power.macs_per_second
    else:
        latency = card.host.latency_p95_s * power.latency_scale
    return energy, latency, method


def learn_correction(
    cards: Sequence[VariantCard], profile: Profile, measured: Mapping[str, MeasuredFigures]
) -> Correction:
    ratios = []
    for card in cards:
        m = measured.get(card.variant_id)
        if m is None or m.windows < MIN_WINDOWS or m.energy_joules <= 0:
            continue
        prior, _, _ = estimate(card, profile)
        if prior > 0:
            ratios.append(math.log(m.energy_joules / prior))
    if not ratios:
        return Correction()
    return Correction(math.exp(sum(ratios) / len(ratios)), len(ratios))


def _peak_memory(card: VariantCard, profile: Profile) -> int:
    if profile.runtime == "tflite-micro":
        arena = card.facts.tflm_arena
        return arena.total if arena is not None else card.facts.peak_activation_bytes
    # LiteRT keeps the weights it reads (dequantized ones at float32) plus the activation arena in RAM.
    return card.facts.peak_activation_bytes + card.facts.weight_read_bytes


def figures_for(
    card: VariantCard,
    profile: Profile,
    *,
    base_accuracy: float | None,
    measured: MeasuredFigures | None,
    correction: Correction,
) -> Figures:
    energy, latency, method = estimate(card, profile)
    energy_kind, sigma, windows, latency_kind = "estimated", 0.0, 0, "estimated"
    if correction.variants:
        energy *= correction.factor
        method += f" x{correction.factor:.3g} learned from {correction.variants} measured variant(s)"
    accuracy, accuracy_source = card.host.accuracy, f"host evaluation ({card.host.samples} samples)"
    if measured is not None and measured.windows >= MIN_WINDOWS:
        energy, sigma, windows = measured.energy_joules, measured.energy_sigma, measured.windows
        energy_kind = measured.energy_kind
        method = f"{measured.energy_method} ({measured.windows} windows on {profile.name} devices)"
        if measured.latency_p95_s is not None:
            latency, latency_kind = measured.latency_p95_s, "measured"
        if measured.labelled >= MIN_LABELLED:
            accuracy = measured.correct / measured.labelled
            accuracy_source = f"devices ({measured.correct}/{measured.labelled} labelled)"
    return Figures(
        accuracy=accuracy,
        accuracy_source=accuracy_source,
        base_accuracy=base_accuracy,
        energy_j=energy,
        energy_sigma_j=sigma,
        energy_kind=energy_kind,
        energy_source=method,
        latency_p95_s=latency,
        latency_kind=latency_kind,
        size_bytes=card.facts.size_bytes,
        peak_memory_bytes=_peak_memory(card, profile),
        windows=windows,
    )
