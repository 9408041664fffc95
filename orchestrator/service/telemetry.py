"""Telemetry: validate and store windows exactly once, acknowledge what is stored, aggregate per
(profile, variant).

The aggregate feeds the selection: measured figures replace estimates once enough windows exist, and the
profile's learnt estimate (selection/learned.py) is fitted on them to predict the rest.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from edgefleet.core.errors import FailedPrecondition, NotFound
from edgefleet.core.samples import count, intersect
from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.selection import MeasuredFigures
from edgefleet.orchestrator.selection.figures import estimate
from edgefleet.orchestrator.service.measurements import MIN_INFERENCES, distinct_accuracy, figures
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store
from edgefleet.orchestrator.store.results import RejectedWindow, VariantTotals

__all__ = ["MIN_INFERENCES", "Ingested", "TelemetryService", "VariantTelemetry"]

#: Joules per inference no edge model plausibly needs.
MAX_PLAUSIBLE_J = 100.0
#: Windows per (profile, variant) behind the measured figures: the newest ones. Enough for tight
#: figures, recent enough to follow the fleet, and bounded in time and memory per plan or scrape.
AGGREGATE_WINDOWS = 2000


@dataclass(frozen=True, slots=True)
class VariantTelemetry:
    profile: str
    variant_id: str
    recipe: str
    windows: int
    devices: int
    inferences: int
    #: Energy per inference under the profile's budget measure, its standard error, and both measures
    #: (None where no window carried it: no dynamic figure without an idle baseline).
    energy_j: float
    energy_sigma_j: float
    measure: str
    gross_j: float | None
    dynamic_j: float | None
    energy_kind: str
    energy_methods: tuple[str, ...]
    latency_p95_s: float
    #: Distinct scoring-split samples scored on devices and right; application feedback apart.
    scored: int
    correct: int
    feedback_labelled: int
    feedback_correct: int
    #: Measured / estimated energy for this variant on this profile (None without an estimate).
    correction: float | None


@dataclass(frozen=True, slots=True)
class Ingested:
    new: int
    #: Stored before (a resend), or unsound and stored flagged.
    repeated: int
    flagged: int
    #: Windows the store could not hold (rejected alone, never their neighbours).
    rejected: tuple[RejectedWindow, ...]
    #: With ``floors``: each of those devices' acknowledgement after the call (``advance_ack``).
    acked: Mapping[str, int] = field(default_factory=dict)


def _problems(w: WindowRecord) -> list[str]:
    out = []
    for name in (
        "gross_j",
        "dynamic_j",
        "sigma_j",
        "latency_p50_s",
        "latency_p95_s",
        "latency_p99_s",
        "cpu_percent",
    ):
        value = getattr(w, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            out.append(f"invalid {name} {value!r}")
    if w.gross_j is not None and w.gross_j > MAX_PLAUSIBLE_J:
        out.append(f"absurd energy {w.gross_j:.3g} J per inference")
    if w.correct > w.labelled:
        out.append(f"correct {w.correct} > labelled {w.labelled}")
    if w.end < w.start:
        out.append("window ends before it starts")
    for name in ("measured_seconds", "idle_watts"):
        value = getattr(w, name)
        if not math.isfinite(value) or value < 0:
            out.append(f"invalid {name} {value!r}")
    if w.feedback_correct > w.feedback_labelled:
        out.append(f"feedback correct {w.feedback_correct} > labelled {w.feedback_labelled}")
    try:
        scored, right = bytes.fromhex(w.scored_samples), bytes.fromhex(w.correct_samples)
    except ValueError:
        return [*out, "sample bitmaps are not hex"]
    if count(intersect(right, scored)) != count(right):
        out.append("a sample counted right was not scored")
    return out


class TelemetryService:
    def __init__(self, *, store: Store, variants: VariantService, profiles: ProfileRegistry) -> None:
        self._store = store
        self._variants = variants
        self._profiles = profiles

    # ---- ingest ----
    def ingest(self, windows: Sequence[WindowRecord], floors: Mapping[str, int] | None = None) -> Ingested:
        """Store exactly once by (device, sequence), flagging what is not sound; a window the store cannot
        hold is rejected alone. With ``floors`` (device id -> its "dropped through" floor), then advance
        those devices' acknowledgements (``advance_ack``) in the same transaction: one commit per group."""
        checked = []
        for w in windows:
            problems = _problems(w)
            checked.append(replace(w, flags=(*w.flags, *problems)) if problems else w)
        result = self._store.store_windows(checked, floors)
        return Ingested(
            new=len(result.new),
            repeated=len(result.duplicates),
            flagged=sum(1 for w in checked if w.flags),
            rejected=result.rejected,
            acked=dict(result.acked),
        )

    def advance_ack(self, device_id: str, floor: int = 0) -> int:
        """The highest sequence up to which every window of the device is stored (or was declared dropped
        by the agent, through ``floor``): what an acknowledgement may claim. Never MAX(seq)."""
        return self._store.advance_ack(device_id, floor)

    def acked(self, device_id: str) -> int:
        return self._store.acked(device_id)

    # ---- figures ----
    def _groups(self, model: str, profile: str) -> dict[tuple[str, str], list[WindowRecord]]:
        groups: dict[tuple[str, str], list[WindowRecord]] = defaultdict(list)
        # bounded: the newest AGGREGATE_WINDOWS of each variant, however long the fleet has been reporting
        for w in self._store.windows(
            model=model, profile=profile, unflagged=True, per_variant=AGGREGATE_WINDOWS
        ):
            groups[(w.profile, w.variant_id)].append(w)
        return groups

    def _split_size(self, model: str) -> int:
        try:
            return len(self._variants.scoring_set(model))
        except (FailedPrecondition, NotFound):  # no such family, or one registered without an evaluation set
            return 0

    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        """Per variant id (the selection's MeasurementSource), under the profile's energy measure."""
        measure = self._profiles.get(profile).budgets.energy_measure
        size = self._split_size(model)
        return {
            vid: figures(ws, measure=measure, split_size=size)
            for (_, vid), ws in self._groups(model, profile).items()
        }

    def summary(self, model: str, profile: str = "") -> list[VariantTelemetry]:
        out = []
        cards = {c.variant_id: c for c in self._variants.list_variants(model)}
        size = self._split_size(model)
        for (prof, vid), ws in sorted(self._groups(model, profile).items()):
            p = self._profiles.get(prof)
            f = figures(ws, measure=p.budgets.energy_measure, split_size=size)
            card = cards.get(vid)
            correction = None
            if card is not None and f.windows:
                prior = estimate(card, p)[0]
                correction = f.energy_joules / prior if prior > 0 else None
            acc = distinct_accuracy(ws)
            out.append(
                VariantTelemetry(
                    profile=prof,
                    variant_id=vid,
                    recipe=card.recipe if card else "?",
                    windows=f.windows,
                    devices=len({w.device_id for w in ws}),
                    inferences=sum(w.inferences for w in ws),
                    energy_j=f.energy_joules,
                    energy_sigma_j=f.energy_sigma,
                    measure=f.measure,
                    gross_j=f.gross_joules,
                    dynamic_j=f.dynamic_joules,
                    energy_kind=f.energy_kind,
                    energy_methods=tuple(sorted({w.energy_method for w in ws if w.energy_method})),
                    latency_p95_s=f.latency_p95_s or 0.0,
                    scored=acc.scored,
                    correct=acc.correct,
                    feedback_labelled=acc.feedback_labelled,
                    feedback_correct=acc.feedback_correct,
                    correction=correction,
                )
            )
        return out

    def totals(self, model: str = "", profile: str = "") -> Sequence[VariantTotals]:
        """Cumulative per (model, profile, variant) since the first window: they only grow (counters)."""
        return self._store.variant_totals(model, profile)

    def recent(self, device_id: str, limit: int = 10) -> list[WindowRecord]:
        return list(self._store.windows(device_id=device_id, limit=limit))
