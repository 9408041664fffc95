"""Device telemetry of one variant on one profile, aggregated into the figures plans and people use.

Energy per inference is reported under both measures and never one under the other's name: ``gross``
(window energy / inferences) and ``dynamic`` (the idle baseline subtracted), each from the windows that
carried it. Accuracy counts distinct samples of the bundled scoring split per device (a sample replayed a
thousand times counts once); application feedback labels are distinct samples of their own, kept apart.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from edgefleet.core.samples import count, intersect, union
from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.selection import MeasuredFigures

__all__ = ["MIN_INFERENCES", "DistinctAccuracy", "EnergyMean", "distinct_accuracy", "energy_mean", "figures"]

#: A window with fewer inferences says nothing about energy per inference (NODATA).
MIN_INFERENCES = 50


@dataclass(frozen=True, slots=True)
class EnergyMean:
    """Inference-weighted mean energy per inference over windows, with the standard error over windows."""

    joules: float
    sigma: float
    windows: int


def energy_mean(ws: Sequence[WindowRecord], measure: str) -> EnergyMean | None:
    pairs = [
        (w, w.dynamic_j if measure == "dynamic" else w.gross_j)
        for w in ws
        if w.inferences >= MIN_INFERENCES and not w.flags
    ]
    usable = [(w, e) for w, e in pairs if e is not None]
    if not usable:
        return None
    total = sum(w.inferences for w, _ in usable)
    mean = sum(e * w.inferences for w, e in usable) / total
    values = [e for _, e in usable]
    sigma = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else usable[0][0].sigma_j
    return EnergyMean(mean, sigma, len(usable))


@dataclass(frozen=True, slots=True)
class DistinctAccuracy:
    """Distinct scoring-split samples scored and right, summed over devices; feedback labels apart."""

    scored: int
    correct: int
    feedback_labelled: int
    feedback_correct: int


def distinct_accuracy(ws: Sequence[WindowRecord]) -> DistinctAccuracy:
    scored: dict[str, bytes] = defaultdict(bytes)
    right: dict[str, bytes] = defaultdict(bytes)
    fl = fc = 0
    for w in ws:
        if w.flags:
            continue
        scored[w.device_id] = union(scored[w.device_id], bytes.fromhex(w.scored_samples))
        right[w.device_id] = union(right[w.device_id], bytes.fromhex(w.correct_samples))
        fl += w.feedback_labelled
        fc += w.feedback_correct
    n = sum(count(b) for b in scored.values())
    c = sum(count(intersect(right[d], scored[d])) for d in scored)
    return DistinctAccuracy(n, c, fl, fc)


def figures(ws: Sequence[WindowRecord], *, measure: str, split_size: int) -> MeasuredFigures:
    """``measure``: what the profile's energy budget judges (the figure plans compare)."""
    chosen = energy_mean(ws, measure)
    gross, dynamic = energy_mean(ws, "gross"), energy_mean(ws, "dynamic")
    usable = [w for w in ws if w.inferences >= MIN_INFERENCES and not w.flags and w.gross_j is not None]
    kinds = {w.energy_kind for w in usable}
    methods = Counter(w.energy_method for w in usable)
    p95 = [w.latency_p95_s for w in ws if w.inferences and not w.flags]
    accuracy = distinct_accuracy(ws)
    return MeasuredFigures(
        windows=chosen.windows if chosen else 0,
        energy_joules=chosen.joules if chosen else 0.0,
        energy_sigma=chosen.sigma if chosen else 0.0,
        energy_kind="estimated" if "estimated" in kinds or not kinds else "measured",
        energy_method=f"{methods.most_common(1)[0][0]} ({measure})" if methods else "",
        latency_p95_s=statistics.median(p95) if p95 else None,
        labelled=accuracy.scored,
        correct=accuracy.correct,
        measure=measure,
        gross_joules=gross.joules if gross else None,
        dynamic_joules=dynamic.joules if dynamic else None,
        split_size=split_size,
    )
