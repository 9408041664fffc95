"""What the learnt estimate reports: its terms, its held-out error, and the figures it predicts."""

from __future__ import annotations

from dataclasses import dataclass

from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["MIN_VARIANTS", "Coefficient", "LooError", "Point", "Prediction", "TargetFit"]

#: Measured variants before the learnt model may replace the (scaled) prior.
MIN_VARIANTS = 3


@dataclass(frozen=True, slots=True)
class Point:
    """One variant devices of the profile measured: its card, the figure (J or s) and its FigureKind."""

    card: VariantCard
    value: float
    kind: str


@dataclass(frozen=True, slots=True)
class Coefficient:
    name: str
    #: In log units; 0 for a term left out (what the ridge pulls every term toward).
    value: float
    fitted: bool
    note: str


@dataclass(frozen=True, slots=True)
class LooError:
    """Leave-one-variant-out error over ``points`` measured variants, in natural-log units
    (0.1 ≈ 10 %), and Spearman's rho between the held-out predictions and the measurements."""

    points: int
    median_abs_log: float | None = None
    max_abs_log: float | None = None
    spearman: float | None = None


@dataclass(frozen=True, slots=True)
class TargetFit:
    """One profile's estimator for one target ("energy" or "latency") and how good it is."""

    target: str
    #: FigureKind.LEARNT when the model is used, else FigureKind.PRIOR.
    kind: str
    variants: int
    coefficients: tuple[Coefficient, ...] = ()
    baseline_class: str = ""
    #: The class terms, in the order they were considered.
    dummy_classes: tuple[str, ...] = ()
    #: dtype classes among the measured variants (the model predicts only these).
    measured_classes: tuple[str, ...] = ()
    #: Geometric mean of measured / prior (1 with nothing measured): the scaled prior's factor.
    prior_scale: float = 1.0
    #: RMS log residual of the full fit (in-sample).
    residual: float | None = None
    #: Held out: the prior scaled to the others (what the plan did before), and the learnt model.
    before: LooError = LooError(0)
    after: LooError = LooError(0)
    #: Kinds of the measured figures it was fitted on.
    trained_on: tuple[str, ...] = ()
    min_variants: int = MIN_VARIANTS
    note: str = ""


@dataclass(frozen=True, slots=True)
class Prediction:
    value: float
    kind: str
    #: LOO median |log error| of the model behind it; None for the prior (unknown).
    error: float | None
    source: str
