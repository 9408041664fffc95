"""Rank the feasible variants for one profile under an objective; show the Pareto front."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from edgefleet.core.enums import FigureKind
from edgefleet.core.errors import InvalidArgument
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.selection.figures import Estimators, Figures, MeasuredFigures, figures_for, learn
from edgefleet.orchestrator.selection.rules import check
from edgefleet.orchestrator.variants.card import VariantCard, VariantKey

__all__ = ["OBJECTIVES", "Candidate", "ProfilePlan", "select"]

OBJECTIVES = ("min-energy", "max-accuracy")


@dataclass(frozen=True, slots=True)
class Candidate:
    variant: VariantKey
    figures: Figures
    reasons: tuple[str, ...]
    violation: float
    runnable: bool
    pareto: bool = False
    #: The reasons no budget change can fix (rolled back on the profile, cannot run there).
    hard_reasons: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class ProfilePlan:
    profile: str
    objective: str
    chosen: Candidate | None
    #: When nothing is feasible: the variant closest to the budgets (never deployed silently).
    least_violating: Candidate | None
    candidates: tuple[Candidate, ...]
    summary: str
    #: The energy figure kinds the ranking compared (feasible variants), most trusted first, and a
    #: sentence saying whether they were one kind or mixed.
    compared_kinds: tuple[str, ...] = ()
    comparison: str = ""
    #: The profile's estimators: coefficients, residual, leave-one-out error before and after learning.
    estimators: Estimators | None = None


def _rank_key(c: Candidate, objective: str) -> tuple[float, ...]:
    f = c.figures
    accuracy = f.accuracy if f.accuracy is not None else -1.0
    if objective == "max-accuracy":
        return (-accuracy, f.latency_p95_s, f.size_bytes, f.energy_j)
    return (f.energy_j, f.latency_p95_s, f.size_bytes, -accuracy)


def _dominates(a: Figures, b: Figures) -> bool:
    av = (-(a.accuracy or 0.0), a.energy_j, a.latency_p95_s, a.size_bytes)
    bv = (-(b.accuracy or 0.0), b.energy_j, b.latency_p95_s, b.size_bytes)
    return all(x <= y for x, y in zip(av, bv, strict=True)) and av != bv


def _base_accuracy(cards: Sequence[VariantCard]) -> dict[str, float | None]:
    return {c.base_name: c.host.accuracy for c in cards if c.recipe == "fp32"}


def select(
    cards: Sequence[VariantCard],
    profile: Profile,
    *,
    objective: str = "min-energy",
    measured: Mapping[str, MeasuredFigures] | None = None,
    blocked: Mapping[str, str] | None = None,
) -> ProfilePlan:
    """Pure: the same inputs give the same plan. ``blocked`` maps variant id -> rollback reason."""
    if objective not in OBJECTIVES:
        raise InvalidArgument(f"unknown objective {objective!r}; use one of {list(OBJECTIVES)}")
    measured = measured or {}
    blocked = blocked or {}
    estimators = learn(cards, profile, measured)
    bases = _base_accuracy(cards)
    candidates = []
    for card in cards:
        figs = figures_for(
            card,
            profile,
            base_accuracy=bases.get(card.base_name),
            measured=measured.get(card.variant_id),
            estimators=estimators,
        )
        verdict = check(card, figs, profile, blocked_reason=blocked.get(card.variant_id))
        candidates.append(
            Candidate(
                card.key,
                figs,
                verdict.reasons,
                verdict.violation,
                verdict.runnable,
                hard_reasons=verdict.hard,
            )
        )
    runnable = [c for c in candidates if c.runnable]
    candidates = [
        replace(c, pareto=c.runnable and not any(_dominates(o.figures, c.figures) for o in runnable))
        for c in candidates
    ]
    feasible = sorted((c for c in candidates if c.feasible), key=lambda c: _rank_key(c, objective))
    ordered = tuple(sorted(candidates, key=lambda c: (not c.feasible, c.violation, _rank_key(c, objective))))
    kinds, comparison = _comparison(feasible)
    chosen, least = (feasible[0], None) if feasible else (None, _least(candidates, objective))
    if chosen is not None:
        summary = (
            f"{profile.name}: {chosen.variant} — {_fig(chosen.figures)}; "
            f"{len(feasible) - 1} other feasible, {len(candidates) - len(feasible)} rejected"
        )
    else:
        summary = f"{profile.name}: nothing is feasible"
        if least is not None:
            summary += f"; least violating: {least.variant} ({'; '.join(least.reasons)})"
    return ProfilePlan(
        profile.name,
        objective,
        chosen,
        least,
        ordered,
        summary,
        compared_kinds=kinds,
        comparison=comparison,
        estimators=estimators,
    )


def _least(candidates: Sequence[Candidate], objective: str) -> Candidate | None:
    return min(candidates, key=lambda c: (c.violation, _rank_key(c, objective)), default=None)


_TRUST = tuple(FigureKind)


def _comparison(feasible: Sequence[Candidate]) -> tuple[tuple[str, ...], str]:
    """Which energy figure kinds the ranking compared, and a sentence that says it."""
    counts = {k: sum(1 for c in feasible if c.figures.energy_figure == k) for k in _TRUST}
    kinds = tuple(str(k) for k in _TRUST if counts[k])
    if not kinds:
        return (), "nothing feasible to compare"
    if len(kinds) == 1:
        return (
            kinds,
            f"one kind compared: {kinds[0]} energy figures for all {len(feasible)} feasible variants",
        )
    mix = ", ".join(f"{k} {counts[FigureKind(k)]}" for k in kinds)
    text = f"mixed kinds compared: {mix} (energy figures of the feasible variants)"
    chosen = feasible[0].figures.energy_figure
    if chosen != kinds[0]:
        text += (
            f"; the chosen variant's figure is {chosen}, less trusted than {kinds[0]}: "
            "measure it before relying on it"
        )
    return kinds, text


def _fig(f: Figures) -> str:
    acc = "n/a" if f.accuracy is None else f"{f.accuracy:.2%}"
    return (
        f"{f.energy_j * 1e6:.3g} µJ ({f.energy_figure}), accuracy {acc}, p95 {f.latency_p95_s * 1e3:.3g} ms"
    )
