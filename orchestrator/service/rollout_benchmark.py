"""The first phase of a rollout whose objective is energy: measure before choosing.

Each profile without a named variant gets a benchmark job on canary devices among the rollout's targets;
when every job is closed the plan is asked again (it now ranks on those measurements ahead of any estimate)
and the rollout deploys what it chooses to the devices that do not already run it. Where the measured choice
is what the devices run, they keep it, and the rollout says so instead of deploying anything.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.benchmark.figures import measured_from_results
from edgefleet.orchestrator.benchmark.model import BenchmarkJob, BenchmarkResult, BenchmarkSettings, JobState
from edgefleet.orchestrator.benchmark.service import BenchmarkService
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.rollout.model import RolloutRecord, RolloutState, split_waves
from edgefleet.orchestrator.selection.rules import joules_text
from edgefleet.orchestrator.service.devices import DeviceService
from edgefleet.orchestrator.service.resolver import VariantResolver
from edgefleet.orchestrator.service.rollout_effects import RolloutEffects

__all__ = [
    "CANARIES_PER_PROFILE",
    "RolloutBenchmarks",
    "describe_choice",
    "keep_incumbents",
    "measured_table",
    "shortfall",
]

#: Canary devices per profile when the request does not say (fewer when the profile has fewer targets).
CANARIES_PER_PROFILE = 3


def measured_table(
    job: BenchmarkJob, results: Sequence[BenchmarkResult], measure: str, names: Mapping[str, str]
) -> list[dict[str, object]]:
    """Per candidate: the estimate the job started from beside what the canaries measured (under the
    profile's energy measure, sigma the standard error, kind and method), latency p95 and scoring-split
    accuracy; lowest measured energy first, unmeasured last."""
    rows: list[dict[str, object]] = []
    for variant_id in job.candidates:
        mine = [r for r in results if r.variant_id == variant_id and not r.error]
        estimate = job.estimates.get(variant_id, {})
        row: dict[str, object] = {
            "variant_id": variant_id,
            "variant": names.get(variant_id, variant_id[:12]),
            "why": job.why.get(variant_id, ""),
            "estimated_j": estimate.get("energy_j"),
            "estimate_kind": estimate.get("kind", ""),
            "measured_j": None,
            "sigma_j": None,
            "kind": "",
            "method": "",
            "latency_p95_s": None,
            "accuracy": None,
            "pace_per_second": 0.0,
            "devices": len(mine),
            "errors": sorted({r.error for r in results if r.variant_id == variant_id and r.error}),
        }
        if mine:
            m = measured_from_results(mine, measure)
            if m.windows:
                row.update(
                    measured_j=m.energy_joules,
                    sigma_j=m.energy_sigma,
                    kind=m.energy_kind,
                    method=m.energy_method,
                    latency_p95_s=m.latency_p95_s,
                    accuracy=m.correct / m.labelled if m.labelled else None,
                    pace_per_second=sum(r.pace_per_second for r in mine) / len(mine),
                )
        rows.append(row)
    rows.sort(key=lambda r: (r["measured_j"] is None, r["measured_j"] or 0.0))
    return rows


class RolloutBenchmarks:
    def __init__(
        self,
        *,
        benchmarks: BenchmarkService,
        resolver: VariantResolver,
        devices: DeviceService,
        effects: RolloutEffects,
    ) -> None:
        self._benchmarks = benchmarks
        self._resolver = resolver
        self._devices = devices
        self._effects = effects

    def begin(
        self,
        model: str,
        targets: Mapping[str, Sequence[DeviceRecord]],
        settings: BenchmarkSettings,
        *,
        online: frozenset[str] = frozenset(),
    ) -> dict[str, str]:
        """One job per profile on up to ``settings.devices`` of its targets (online first): profile -> job
        id."""
        jobs: dict[str, str] = {}
        for profile, devices in sorted(targets.items()):
            job = self._benchmarks.start(
                model=model,
                profile=profile,
                settings=replace(settings, devices=min(settings.devices, len(devices))),
                online=online,
                among=frozenset(d.device_id for d in devices),
            )
            jobs[profile] = job.job_id
        return jobs

    def conclude(self, r: RolloutRecord) -> tuple[RolloutRecord, str] | None:
        """None while any of the rollout's jobs is open. Then: the plan chooses again per profile (now on
        what was measured; an event with the table of estimated vs measured), the devices that already run
        the choice leave the rollout (an event each profile), and the rest go on in waves, canaries first.
        Returns the record (not stored yet) and what was kept, in words."""
        jobs = {profile: self._benchmarks.get(job_id) for profile, job_id in r.benchmarks.items()}
        if any(j.state == JobState.OPEN for j in jobs.values()):
            return None
        chosen, tables, reasons = dict(r.variants), {}, {}
        names = self._resolver.names(r.model)
        for profile, job in sorted(jobs.items()):
            measure = r.policies[profile].energy_measure
            tables[profile] = measured_table(job, self._benchmarks.results(job.job_id), measure, names)
            measured = frozenset(
                str(row["variant_id"]) for row in tables[profile] if row["measured_j"] is not None
            )
            incumbent = _incumbent(r, [d for d in job.devices if d in r.previous])
            try:
                chosen[profile] = self._resolver.measured_choice(r.model, profile, measured).card.variant_id
            except FailedPrecondition as e:
                if not incumbent:
                    raise
                chosen[profile], reasons[profile] = incumbent, f"kept {_name(names, incumbent)}: {e}"
                continue
            if short := shortfall(
                tables[profile], incumbent, chosen[profile], r.policies[profile].min_saving, names
            ):
                chosen[profile], reasons[profile] = incumbent, short
        for profile, job in sorted(jobs.items()):
            measure, table = r.policies[profile].energy_measure, tables[profile]
            self._effects.event(
                "rollout.benchmarked",
                describe_choice(profile, table, r.variants[profile], chosen[profile], job, names)
                + (f"; {reasons[profile]}" if profile in reasons else ""),
                r,
                profile=profile,
                variant_id=chosen[profile],
                rule="rollout.measured" if any(row["measured_j"] is not None for row in table) else "",
                details={
                    "job_id": job.job_id,
                    "job_state": str(job.state),
                    "job_reason": job.reason,
                    "measure": measure,
                    "estimate_choice": r.variants[profile],
                    "chosen": chosen[profile],
                    "kept_because": reasons.get(profile, ""),
                    "candidates": table,
                },
            )
        profile_of = {d: device.profile for d, device in self._devices.get_many(list(r.devices)).items()}
        canaries = {d for job in jobs.values() for d in job.devices}
        r, kept = keep_incumbents(r, chosen, profile_of, canaries, self._effects.clock(), names)
        kept |= {p: f"{p}: {why}" for p, why in reasons.items() if p in kept}
        for profile, message in kept.items():
            self._effects.event("rollout.kept", message, r, profile=profile, variant_id=chosen[profile])
        return r, "; ".join(kept.values())

    def cancel(self, job_ids: Mapping[str, str], reason: str) -> None:
        for job_id in job_ids.values():
            self._benchmarks.cancel(job_id, reason)


def describe_choice(
    profile: str,
    table: Sequence[Mapping[str, object]],
    estimate_choice: str,
    chosen: str,
    job: BenchmarkJob,
    names: Mapping[str, str],
) -> str:
    """One line: what was measured, the lowest, and what the plan chose (beside the estimate's choice)."""
    measured = [row for row in table if row["measured_j"] is not None]
    then = f"chose {_name(names, chosen)}" + (
        "" if chosen == estimate_choice else f" (the estimate chose {_name(names, estimate_choice)})"
    )
    if not measured:
        why = job.reason or "no device reported a result"
        return f"{profile}: no candidate was measured ({why}); the choice rests on estimates: {then}"
    best = measured[0]
    energy = float(best["measured_j"])  # type: ignore[arg-type]
    sigma = float(best["sigma_j"] or 0.0)  # type: ignore[arg-type]
    return (
        f"{profile}: measured {len(measured)} of {len(table)} candidate(s) on {len(job.devices)} device(s); "
        f"lowest {_name(names, str(best['variant_id']))} {joules_text(energy)} ± {joules_text(sigma)} "
        f"({best['kind']}); {then}"
    )


def keep_incumbents(
    r: RolloutRecord,
    chosen: Mapping[str, str],
    profile_of: Mapping[str, str],
    canaries: set[str],
    now: float,
    names: Mapping[str, str],
) -> tuple[RolloutRecord, dict[str, str]]:
    """The rollout with the measured choice: devices that already run it leave it (profile -> why), the rest
    in waves again with the canaries first, running from now."""
    stay = [d for d in r.devices if r.previous.get(d, "") != chosen[profile_of[d]]]
    kept: dict[str, str] = {}
    for profile in sorted(set(profile_of.values())):
        left = [d for d in r.devices if profile_of[d] == profile and d not in stay]
        if left:
            every = len(left) == sum(1 for p in profile_of.values() if p == profile)
            kept[profile] = (
                f"{profile}: {'all ' if every else ''}{len(left)} device(s) already run "
                f"{_name(names, chosen[profile])}, the measured choice; left as they are"
            )
    order = sorted(stay, key=lambda d: (d not in canaries, d))
    return (
        replace(
            r,
            variants=dict(chosen),
            devices={d: r.devices[d] for d in order},
            previous={d: r.previous.get(d, "") for d in order},
            waves=split_waves(order, r.timing.waves) if order else [],
            wave=0,
            wave_started=now,
            state=RolloutState.RUNNING,
            state_reason="",
            updated=now,
        ),
        kept,
    )


def _incumbent(r: RolloutRecord, devices: Sequence[str]) -> str:
    """What most of these devices ran when the rollout began ("" when nothing)."""
    ran = Counter(r.previous[d] for d in devices if r.previous.get(d))
    return ran.most_common(1)[0][0] if ran else ""


def shortfall(
    table: Sequence[Mapping[str, object]],
    incumbent: str,
    chosen: str,
    min_saving: float,
    names: Mapping[str, str],
) -> str:
    """Why the measured choice is not worth deploying over the incumbent, both measured by the same job
    on the same devices ("" when it is, or when either was not measured): the lower end of its saving's
    95 % interval (from the two standard errors, on the log scale) is below the least worth deploying. A
    saving is shown before anything is deployed, not assumed; the rollout then proves it in service."""
    rows = {str(row["variant_id"]): row for row in table if row["measured_j"]}
    if not incumbent or chosen == incumbent or incumbent not in rows or chosen not in rows:
        return ""
    c, i = float(rows[chosen]["measured_j"]), float(rows[incumbent]["measured_j"])  # type: ignore[arg-type]
    sc, si = float(rows[chosen]["sigma_j"] or 0.0), float(rows[incumbent]["sigma_j"] or 0.0)  # type: ignore[arg-type]
    saving = 1 - c / i
    se = math.sqrt((sc / c) ** 2 + (si / i) ** 2)
    lower, upper = 1 - c / i * math.exp(1.96 * se), 1 - c / i * math.exp(-1.96 * se)
    if lower >= min_saving:
        return ""
    return (
        f"kept {_name(names, incumbent)}, which the devices run: the best candidate {_name(names, chosen)} "
        f"measured "
        f"{joules_text(c)} against its {joules_text(i)}, a saving of {saving:.1%} "
        f"[{lower:.1%}, {upper:.1%}], not surely the {min_saving:.0%} worth deploying"
    )


def _name(names: Mapping[str, str], variant_id: str) -> str:
    return names.get(variant_id, variant_id[:12])
