"""A benchmark job's results as the measured figures plans rank on."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence

from edgefleet.orchestrator.benchmark.model import BenchmarkResult
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.selection import MeasuredFigures
from edgefleet.orchestrator.store.base import Store

__all__ = ["MIN_TURNS", "BenchmarkFigures", "measured_from_results"]

#: Fewest turns (over the devices) for a benchmark figure to be used by plans.
MIN_TURNS = 2


def measured_from_results(results: Sequence[BenchmarkResult], measure: str) -> MeasuredFigures:
    """One variant on several devices: the inference-weighted mean energy per inference under ``measure``
    (each device's figure is already a mean over its turns), the combined standard error, the median p95,
    and accuracy over the distinct scoring-split samples each device scored."""
    usable: list[tuple[BenchmarkResult, float]] = []
    for r in results:
        e = r.dynamic_j if measure == "dynamic" else r.gross_j
        if e is not None and r.inferences > 0:
            usable.append((r, e))
    total = sum(r.inferences for r, _ in usable)
    energy = sum(e * r.inferences for r, e in usable) / total if total else 0.0
    sigma = (
        math.sqrt(sum((r.sigma(measure) * r.inferences) ** 2 for r, _ in usable)) / total if total else 0.0
    )
    kinds = {r.energy_kind for r in results}
    methods = Counter(r.energy_method for r in results)
    p95 = [r.latency_p95_s for r in results if r.inferences]
    scored = [r.scored for r in results if r.scored]
    return MeasuredFigures(
        windows=sum(r.turns for r, _ in usable),
        energy_joules=energy,
        energy_sigma=sigma,
        energy_kind="estimated" if "estimated" in kinds or not kinds else "measured",
        energy_method=f"{methods.most_common(1)[0][0]} ({measure}, benchmark job)" if methods else "",
        latency_p95_s=statistics.median(p95) if p95 else None,
        labelled=sum(scored),
        correct=sum(r.correct for r in results if r.scored),
        measure=measure,
        gross_joules=_mean([(r, r.gross_j) for r in results]),
        dynamic_joules=_mean([(r, r.dynamic_j) for r in results]),
        split_size=max(scored) if scored else 0,
        # a turn is thousands of inferences measured back to back, interleaved with the other candidates:
        # two give a standard error
        min_windows=MIN_TURNS,
    )


def _mean(pairs: Sequence[tuple[BenchmarkResult, float | None]]) -> float | None:
    usable = [(r.inferences, e) for r, e in pairs if e is not None and r.inferences > 0]
    total = sum(n for n, _ in usable)
    return sum(n * e for n, e in usable) / total if total else None


class BenchmarkFigures:
    """The plans' measurement source for benchmark jobs: per variant, the newest job's results for it on the
    profile, over every device that measured it."""

    def __init__(self, *, store: Store, profiles: ProfileRegistry) -> None:
        self._store = store
        self._profiles = profiles

    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        measure = self._profiles.get(profile).budgets.energy_measure
        newest: dict[str, list[BenchmarkResult]] = {}
        for r in reversed(self._store.benchmark_results(model=model, profile=profile)):
            if r.error:
                continue
            rows = newest.setdefault(r.variant_id, [])
            if not rows or rows[0].job_id == r.job_id:
                rows.append(r)
        return {vid: measured_from_results(rows, measure) for vid, rows in newest.items()}
