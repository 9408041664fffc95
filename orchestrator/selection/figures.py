"""The figures selection compares, in order of trust: measured on devices of the profile, then the
profile's learnt estimate, then the prior (learned.py, prior.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgefleet.core.enums import EnergyKind, FigureKind
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.selection.learned import Point, TargetFit, fit_target, predict
from edgefleet.orchestrator.selection.prior import estimate
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = [
    "MIN_WINDOWS",
    "Estimators",
    "Figures",
    "MeasuredFigures",
    "estimate",
    "figures_for",
    "learn",
    "measured_kind",
]

#: Measured figures replace estimates once this many telemetry windows exist for (profile, variant).
MIN_WINDOWS = 5


@dataclass(frozen=True, slots=True)
class MeasuredFigures:
    """Aggregated device telemetry of one variant on one profile."""

    windows: int
    #: Energy per inference under ``measure`` (what the profile's budget judges), and its standard error.
    energy_joules: float
    energy_sigma: float
    #: "measured" (a sensor) or "estimated" (the device had none: CPU time x power).
    energy_kind: str
    energy_method: str
    latency_p95_s: float | None = None
    #: Distinct samples of the scoring split scored on devices, and how many right (summed over devices).
    labelled: int = 0
    correct: int = 0
    #: "dynamic" or "gross": the measure ``energy_joules`` is; both figures, None where none was reported.
    measure: str = "dynamic"
    gross_joules: float | None = None
    dynamic_joules: float | None = None
    #: Size of the scoring split: device accuracy replaces host accuracy only over the very same samples.
    split_size: int = 0
    #: Fewest ``windows`` (telemetry windows; benchmark turns) for the figure to be used.
    min_windows: int = MIN_WINDOWS


@dataclass(frozen=True, slots=True)
class Estimators:
    """One profile's learnt estimators (energy, latency), fitted on what its devices measured."""

    energy: TargetFit
    latency: TargetFit


@dataclass(frozen=True, slots=True)
class Figures:
    accuracy: float | None
    accuracy_source: str
    #: Accuracy of the float32 base of the same width (for the max-drop budget).
    base_accuracy: float | None
    energy_j: float
    energy_sigma_j: float
    #: How the energy itself was obtained (EnergyKind: measured, derived, estimated).
    energy_kind: str
    energy_source: str
    latency_p95_s: float
    latency_kind: str
    size_bytes: int
    peak_memory_bytes: int
    windows: int = 0
    #: Where the figure comes from (FigureKind): measured, estimated-on-device, learnt, prior.
    energy_figure: str = FigureKind.PRIOR
    latency_figure: str = FigureKind.PRIOR
    #: The learnt model's leave-one-out median |log error| (0.2 ≈ ±20 %); None when not learnt.
    energy_error: float | None = None
    latency_error: float | None = None
    latency_source: str = ""


def measured_kind(m: MeasuredFigures) -> str:
    """measured (a sensor on the devices) or estimated-on-device (their CPU-time or op-count estimator)."""
    return FigureKind.ESTIMATED_ON_DEVICE if m.energy_kind == EnergyKind.ESTIMATED else FigureKind.MEASURED


def _usable(m: MeasuredFigures | None) -> bool:
    return m is not None and m.windows >= m.min_windows


def learn(
    cards: Sequence[VariantCard], profile: Profile, measured: Mapping[str, MeasuredFigures]
) -> Estimators:
    """Fit the profile's energy and latency estimators on every variant measured enough."""
    energy, latency = [], []
    for card in cards:
        m = measured.get(card.variant_id)
        if m is None or not _usable(m):
            continue
        if m.energy_joules > 0:
            energy.append(Point(card, m.energy_joules, measured_kind(m)))
        if m.latency_p95_s is not None and m.latency_p95_s > 0:
            latency.append(Point(card, m.latency_p95_s, FigureKind.MEASURED))
    return Estimators(
        fit_target("energy", cards, profile, energy), fit_target("latency", cards, profile, latency)
    )


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
    estimators: Estimators,
) -> Figures:
    e = predict(estimators.energy, card, profile)
    lat = predict(estimators.latency, card, profile)
    energy, energy_figure, energy_error, method = e.value, e.kind, e.error, e.source
    latency, latency_figure, latency_error, latency_source = lat.value, lat.kind, lat.error, lat.source
    energy_kind: str = EnergyKind.ESTIMATED
    latency_kind: str = EnergyKind.ESTIMATED
    sigma, windows = 0.0, 0
    accuracy, accuracy_source = card.host.accuracy, f"host evaluation ({card.host.samples} samples)"
    if measured is not None and _usable(measured):
        energy, sigma, windows = measured.energy_joules, measured.energy_sigma, measured.windows
        energy_kind, energy_figure, energy_error = measured.energy_kind, measured_kind(measured), None
        method = f"{measured.energy_method} ({measured.windows} windows on {profile.name} devices)"
        if measured.latency_p95_s is not None:
            latency, latency_kind, latency_figure = (
                measured.latency_p95_s,
                EnergyKind.MEASURED,
                FigureKind.MEASURED,
            )
            latency_error, latency_source = None, f"devices ({measured.windows} windows, median p95)"
        if measured.split_size and measured.labelled >= measured.split_size == card.host.samples:
            # the same samples the host scored, on the devices' own runtime: comparable, and more relevant
            accuracy = measured.correct / measured.labelled
            accuracy_source = (
                f"devices, scoring split ({measured.correct}/{measured.labelled} distinct samples)"
            )
    return Figures(
        accuracy=accuracy,
        accuracy_source=accuracy_source,
        base_accuracy=base_accuracy,
        energy_j=energy,
        energy_sigma_j=sigma,
        energy_kind=str(energy_kind),
        energy_source=method,
        latency_p95_s=latency,
        latency_kind=str(latency_kind),
        size_bytes=card.facts.size_bytes,
        peak_memory_bytes=_peak_memory(card, profile),
        windows=windows,
        energy_figure=str(energy_figure),
        latency_figure=str(latency_figure),
        energy_error=energy_error,
        latency_error=latency_error,
        latency_source=latency_source,
    )
