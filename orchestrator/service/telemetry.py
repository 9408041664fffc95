"""Telemetry: validate and store windows exactly once, aggregate them per (profile, variant).

The aggregate feeds the selection: measured figures replace estimates once enough
windows exist, and the profile's learnt estimate (selection/learned.py) is fitted on them to predict the rest.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.selection import MeasuredFigures
from edgefleet.orchestrator.selection.figures import estimate
from edgefleet.orchestrator.service.variants import VariantService
from edgefleet.orchestrator.store.base import Store

__all__ = ["MIN_INFERENCES", "TelemetryService", "VariantTelemetry"]

#: A window with fewer inferences says nothing about energy per inference (NODATA).
MIN_INFERENCES = 50
#: Joules per inference no edge model plausibly needs.
MAX_PLAUSIBLE_J = 100.0


@dataclass(frozen=True, slots=True)
class VariantTelemetry:
    profile: str
    variant_id: str
    recipe: str
    windows: int
    devices: int
    inferences: int
    energy_j: float
    #: Idle baseline subtracted (mean over windows that had a baseline; NaN when none did).
    dynamic_j: float
    energy_sigma_j: float
    energy_kind: str
    energy_methods: tuple[str, ...]
    latency_p95_s: float
    labelled: int
    correct: int
    #: Measured / estimated energy for this variant on this profile (NaN without an estimate).
    correction: float


#: Windows per (profile, variant) behind the measured figures: the newest ones. Enough for tight
#: figures, recent enough to follow the fleet, and bounded in time and memory per plan or scrape.
AGGREGATE_WINDOWS = 2000


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
    return out


class TelemetryService:
    def __init__(self, *, store: Store, variants: VariantService, profiles: ProfileRegistry) -> None:
        self._store = store
        self._variants = variants
        self._profiles = profiles

    def ingest(self, windows: Sequence[WindowRecord]) -> tuple[int, int]:
        """Store (flagging what is not sound); returns (new windows, windows flagged or already stored)."""
        checked = []
        for w in windows:
            problems = _problems(w)
            checked.append(replace(w, flags=(*w.flags, *problems)) if problems else w)
        new = self._store.put_windows(checked)
        flagged = sum(1 for w in checked if w.flags)
        return new, flagged + (len(checked) - new)

    def acked_up_to(self, device_id: str) -> int:
        return self._store.last_window_seq(device_id)

    def _groups(self, model: str, profile: str) -> dict[tuple[str, str], list[WindowRecord]]:
        groups: dict[tuple[str, str], list[WindowRecord]] = defaultdict(list)
        # bounded: the newest AGGREGATE_WINDOWS of each variant, however long the fleet has been reporting
        for w in self._store.windows(
            model=model, profile=profile, unflagged=True, per_variant=AGGREGATE_WINDOWS
        ):
            groups[(w.profile, w.variant_id)].append(w)
        return groups

    @staticmethod
    def _figures(ws: list[WindowRecord]) -> MeasuredFigures:
        # the marginal (dynamic) energy where the device has an idle baseline, like the estimates it replaces
        usable = [
            (w, w.dynamic_j if w.dynamic_j is not None else w.gross_j)
            for w in ws
            if w.inferences >= MIN_INFERENCES and w.gross_j is not None
        ]
        total = sum(w.inferences for w, _ in usable)
        energy = sum(g * w.inferences for w, g in usable) / total if total else 0.0
        values = [g for _, g in usable]
        sigma = (
            statistics.stdev(values) / math.sqrt(len(values))
            if len(values) > 1
            else (usable[0][0].sigma_j if usable else 0.0)
        )
        kinds = {w.energy_kind for w, _ in usable}
        methods = Counter(w.energy_method for w, _ in usable)
        p95 = [w.latency_p95_s for w in ws if w.inferences]
        return MeasuredFigures(
            windows=len(usable),
            energy_joules=energy,
            energy_sigma=sigma,
            energy_kind="estimated" if "estimated" in kinds or not kinds else "measured",
            energy_method=(
                methods.most_common(1)[0][0]
                + (" (dynamic)" if any(w.dynamic_j is not None for w, _ in usable) else "")
            )
            if methods
            else "",
            latency_p95_s=statistics.median(p95) if p95 else None,
            labelled=sum(w.labelled for w in ws),
            correct=sum(w.correct for w in ws),
        )

    def measured(self, model: str, profile: str) -> Mapping[str, MeasuredFigures]:
        """Per variant id (the selection's MeasurementSource)."""
        return {vid: self._figures(ws) for (_, vid), ws in self._groups(model, profile).items()}

    def summary(self, model: str, profile: str = "") -> list[VariantTelemetry]:
        out = []
        cards = {c.variant_id: c for c in self._variants.list_variants(model)}
        for (prof, vid), ws in sorted(self._groups(model, profile).items()):
            f = self._figures(ws)
            card = cards.get(vid)
            correction = float("nan")
            if card is not None and f.windows:
                prior, _, _ = estimate(card, self._profiles.get(prof))
                correction = f.energy_joules / prior if prior > 0 else float("nan")
            out.append(
                VariantTelemetry(
                    profile=prof,
                    variant_id=vid,
                    recipe=card.recipe if card else "?",
                    windows=f.windows,
                    devices=len({w.device_id for w in ws}),
                    inferences=sum(w.inferences for w in ws),
                    energy_j=f.energy_joules,
                    dynamic_j=_dynamic(ws),
                    energy_sigma_j=f.energy_sigma,
                    energy_kind=f.energy_kind,
                    energy_methods=tuple(sorted({w.energy_method for w in ws if w.energy_method})),
                    latency_p95_s=f.latency_p95_s or 0.0,
                    labelled=f.labelled,
                    correct=f.correct,
                    correction=correction,
                )
            )
        return out

    def recent(self, device_id: str, limit: int = 10) -> list[WindowRecord]:
        return list(self._store.windows(device_id=device_id, limit=limit))


def _dynamic(ws: list[WindowRecord]) -> float:
    pairs = [
        (w.dynamic_j, w.inferences) for w in ws if w.dynamic_j is not None and w.inferences >= MIN_INFERENCES
    ]
    total = sum(n for _, n in pairs)
    return sum(d * n for d, n in pairs) / total if total else float("nan")
