"""The learnt estimate: per profile, energy and p95 latency of a variant from its card's facts, fitted on
every variant that devices of the profile measured.

    log y = b0 + Σ b_class·[dtype class] + b_mac·log MACs + b_dw·depthwise share
            + b_fc·fully-connected share + b_bytes·log bytes

Least squares on logs, ridge-regularised toward "every variant costs the same" (all terms -> 0; the
intercept is free), so with few points it stays near the measured mean. Terms enter in that order where
the measured variants support them: the term varies among them, it is not (nearly) a combination of the
terms already in, and one residual degree of freedom is left; otherwise it stays 0 and says why. dtype
classes enter first because they are where the prior is wrong in direction (on CPUs dynamic-range int8
costs more than float32; the op-count model says the opposite); classes with more measured variants first.

The prior is not a term: on this host's measurements of the reference family, a model anchored on it
(log prior as a term pulled toward 1) predicted unmeasured variants worse when few were measured (3
measured: median error ~120 % against ~55 % without it; alike from 9 on). It is the fallback: scaled to
the measured variants (geometric mean of measured / prior) below MIN_VARIANTS, for dtype classes no
device measured, and whenever the model's leave-one-variant-out median error is not lower than the
scaled prior's. Both errors and both rank correlations are reported. Pure: no I/O, deterministic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgefleet.core.enums import FigureKind
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.selection.estimates import (
    MIN_VARIANTS,
    Coefficient,
    LooError,
    Point,
    Prediction,
    TargetFit,
)
from edgefleet.orchestrator.selection.prior import estimate, latency_method
from edgefleet.orchestrator.selection.regression import Array, r_squared, ridge_toward, spearman
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = [
    "COLLINEAR_R2",
    "MIN_VARIANTS",
    "RIDGE",
    "Coefficient",
    "LooError",
    "Point",
    "Prediction",
    "TargetFit",
    "dtype_class",
    "fit_target",
    "leave_one_out",
    "predict",
]

#: Ridge strength, in points: "all the same" weighs like 0.3 of an observation per term. Chosen on
#: this host's measurements of the reference family, fitting random subsets of 3-9 variants and
#: predicting the rest: 0.1-0.3 predicted better than 1 with 4-6 variants, alike from 9 on.
RIDGE = 0.3
#: A term this well explained by the terms already in adds nothing the data can separate.
COLLINEAR_R2 = 0.95
_TINY = 1e-15
_NUMERIC = ("log MACs", "depthwise share", "fully-connected share", "log bytes")


def dtype_class(card: VariantCard) -> str:
    f = card.facts
    if f.hybrid:
        return "hybrid"
    if f.full_integer or f.compute_dtype.startswith("float"):
        return f.compute_dtype
    return f"{f.compute_dtype} float-io"


def _prior(card: VariantCard, profile: Profile, target: str) -> float:
    energy, latency, _ = estimate(card, profile)
    return max(energy if target == "energy" else latency, _TINY)


def _row(card: VariantCard, dummies: Sequence[str]) -> list[float]:
    f = card.facts
    compute = f.macs.get("conv", 0) + f.macs.get("depthwise", 0) + f.macs.get("fully_connected", 0)
    cls = dtype_class(card)
    return [
        *(1.0 if cls == d else 0.0 for d in dummies),
        math.log(f.total_macs + 1),
        f.macs.get("depthwise", 0) / compute if compute else 0.0,
        f.macs.get("fully_connected", 0) / compute if compute else 0.0,
        math.log(max(f.size_bytes, 1)),
    ]


@dataclass(frozen=True, slots=True)
class _Design:
    names: tuple[str, ...]
    classes: int  # the first ``classes`` columns are dtype-class indicators
    x: Array
    y: Array
    #: log prior of each point
    z: Array


def _select(d: _Design, rows: npt.NDArray[np.intp]) -> tuple[list[int], dict[int, str]]:
    """The columns the rows support, in priority order, and why each other one is left out."""
    x, n = d.x[rows], len(rows)
    included: list[int] = []
    notes: dict[int, str] = {}
    for j, name in enumerate(d.names):
        col = x[:, j]
        if np.ptp(col) <= 1e-9 * max(1.0, float(np.abs(col).max())):
            if j < d.classes:
                notes[j] = f"every measured variant is {name}" if col[0] else f"no measured {name} variant"
            else:
                notes[j] = "the same for every measured variant"
        elif len(included) + 2 > n - 1:
            notes[j] = f"{n} measured variant(s) leave no degree of freedom for it"
        elif included and (r2 := r_squared(x[:, included], col)) >= COLLINEAR_R2:
            notes[j] = f"collinear with the terms already in (R² {r2:.3f})"
        else:
            included.append(j)
    return included, notes


def _fit(d: _Design, rows: npt.NDArray[np.intp]) -> tuple[float, Array, list[int], dict[int, str]]:
    included, notes = _select(d, rows)
    coef = np.zeros(len(d.names))
    b0, b = ridge_toward(d.x[rows][:, included], d.y[rows], np.zeros(len(included)), RIDGE)
    coef[included] = b
    return b0, coef, included, notes


def _design(
    cards: Sequence[VariantCard], profile: Profile, target: str, points: Sequence[Point]
) -> tuple[_Design, str]:
    classes = sorted({dtype_class(c) for c in (*cards, *(p.card for p in points))})
    baseline = "float32" if "float32" in classes else (classes[0] if classes else "")
    counts = Counter(dtype_class(p.card) for p in points)
    dummies = sorted((c for c in classes if c != baseline), key=lambda c: (-counts[c], c))
    x = np.array([_row(p.card, dummies) for p in points]).reshape(len(points), len(dummies) + len(_NUMERIC))
    y = np.log(np.array([max(p.value, _TINY) for p in points]))
    z = np.log(np.array([_prior(p.card, profile, target) for p in points]))
    return _Design((*dummies, *_NUMERIC), len(dummies), x, y, z), baseline


def _loo(d: _Design) -> tuple[Array, Array]:
    """Held-out log predictions of each point: (the prior scaled to the others, the learnt model)."""
    n = len(d.y)
    before, after = np.empty(n), np.empty(n)
    for i in range(n):
        keep = np.flatnonzero(np.arange(n) != i)
        b0, coef, *_ = _fit(d, keep)
        after[i] = b0 + d.x[i] @ coef
        before[i] = d.z[i] + float(np.mean(d.y[keep] - d.z[keep]))
    return before, after


def leave_one_out(
    target: str, cards: Sequence[VariantCard], profile: Profile, points: Sequence[Point]
) -> tuple[list[float], list[float]]:
    """Each point's held-out prediction (J or s): (the prior scaled to the others, the learnt model)."""
    if len(points) < 2:
        raise ValueError("leave-one-out needs at least 2 measured variants")
    before, after = _loo(_design(cards, profile, target, points)[0])
    return np.exp(before).tolist(), np.exp(after).tolist()


def _error(pred: Array, y: Array) -> LooError:
    err = np.abs(pred - y)
    return LooError(len(y), float(np.median(err)), float(err.max()), spearman(pred.tolist(), y.tolist()))


def _kind(n: int, before: LooError, after: LooError, scale: float) -> tuple[str, str]:
    """The model replaces the scaled prior only where it predicts held-out variants closer."""
    prior = f"the prior x{scale:.3g}"
    if n < MIN_VARIANTS:
        return FigureKind.PRIOR, f"{n} measured variant(s), the model needs {MIN_VARIANTS}: {prior}"
    if after.median_abs_log is None or before.median_abs_log is None:
        return FigureKind.PRIOR, f"no held-out error: {prior}"
    if after.median_abs_log >= before.median_abs_log:
        return FigureKind.PRIOR, (
            f"the model's held-out median error ({math.expm1(after.median_abs_log):.0%}) is not lower than "
            f"the scaled prior's ({math.expm1(before.median_abs_log):.0%}): {prior}"
        )
    return FigureKind.LEARNT, f"learnt from {n} measured variants"


def fit_target(
    target: str, cards: Sequence[VariantCard], profile: Profile, points: Sequence[Point]
) -> TargetFit:
    """Fit one target on ``points``; ``cards`` (the whole family) fixes the dtype classes."""
    d, baseline = _design(cards, profile, target, points)
    dummies = d.names[: d.classes]
    n = len(points)
    if n == 0:
        note = f"nothing measured on {profile.name}: the prior"
        return TargetFit(
            target, FigureKind.PRIOR, 0, baseline_class=baseline, dummy_classes=dummies, note=note
        )
    b0, coef, included, notes = _fit(d, np.arange(n))
    before, after = LooError(n), LooError(n)
    if n >= 2:
        pred_before, pred_after = _loo(d)
        before, after = _error(pred_before, d.y), _error(pred_after, d.y)
    coefficients = [Coefficient("intercept", b0, True, "unpenalised")]
    for j, name in enumerate(d.names):
        label = f"{name} (vs {baseline})" if j < d.classes else name
        note = "fitted" if j in included else f"left out: {notes[j]}"
        coefficients.append(Coefficient(label, float(coef[j]), j in included, note))
    scale = math.exp(float(np.mean(d.y - d.z)))
    kind, note = _kind(n, before, after, scale)
    resid = d.y - (b0 + d.x @ coef)
    return TargetFit(
        target,
        kind,
        n,
        tuple(coefficients),
        baseline_class=baseline,
        dummy_classes=dummies,
        measured_classes=tuple(sorted({dtype_class(p.card) for p in points})),
        prior_scale=scale,
        residual=float(np.sqrt(np.mean(resid**2))),
        before=before,
        after=after,
        trained_on=tuple(sorted({p.kind for p in points})),
        note=note,
    )


def predict(fit: TargetFit, card: VariantCard, profile: Profile) -> Prediction:
    """The learnt figure where the model is used and covers the card's dtype class, else the prior
    scaled to the measured variants."""
    cls = dtype_class(card)
    if fit.kind == FigureKind.LEARNT and cls in fit.measured_classes:
        x = [1.0, *_row(card, fit.dummy_classes)]
        log_y = sum(c.value * v for c, v in zip(fit.coefficients, x, strict=True))
        err = fit.after.median_abs_log
        pct = "" if err is None else f"; held-out median error {math.expm1(err):.0%}"
        return Prediction(
            math.exp(log_y), FigureKind.LEARNT, err, f"learnt ({fit.variants} measured variants{pct})"
        )
    source = estimate(card, profile)[2] if fit.target == "energy" else latency_method(profile)
    if fit.variants:
        source += f" x{fit.prior_scale:.3g} (scaled to {fit.variants} measured variant(s))"
        if fit.kind == FigureKind.LEARNT:
            source += f"; no measured {cls} variant for the learnt model"
    return Prediction(_prior(card, profile, fit.target) * fit.prior_scale, FigureKind.PRIOR, None, source)
