"""Profiles and plans <-> protobuf (edges only: the FleetAdmin servicer and the client)."""

from __future__ import annotations

import math

from edgefleet.core.enums import FigureKind
from edgefleet.core.wire import KIND_FROM_PB, kind_pb
from edgefleet.orchestrator.profiles.model import Budgets, Hardware, PowerModel, Profile
from edgefleet.orchestrator.selection import Candidate, Figures, ProfilePlan
from edgefleet.orchestrator.selection.figures import Estimators
from edgefleet.orchestrator.selection.learned import Coefficient, LooError, TargetFit
from edgefleet.orchestrator.variants.card import VariantKey
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["plan_from_pb", "plan_to_pb", "profile_from_pb", "profile_to_pb"]

_NAN = float("nan")

FIGURE_TO_PB: dict[FigureKind, admin_pb2.FigureKind.ValueType] = {
    FigureKind.MEASURED: admin_pb2.FIGURE_KIND_MEASURED,
    FigureKind.ESTIMATED_ON_DEVICE: admin_pb2.FIGURE_KIND_ESTIMATED_ON_DEVICE,
    FigureKind.LEARNT: admin_pb2.FIGURE_KIND_LEARNT,
    FigureKind.PRIOR: admin_pb2.FIGURE_KIND_PRIOR,
}
FIGURE_FROM_PB = {v: k for k, v in FIGURE_TO_PB.items()}
_FIGURES = frozenset(FigureKind)


def _figure_pb(kind: str) -> admin_pb2.FigureKind.ValueType:
    """An unknown kind is the prior: never claim more than is known."""
    return FIGURE_TO_PB[FigureKind(kind)] if kind in _FIGURES else admin_pb2.FIGURE_KIND_PRIOR


def _figure(v: admin_pb2.FigureKind.ValueType) -> str:
    return str(FIGURE_FROM_PB.get(v, FigureKind.PRIOR))


def _opt(x: float | None) -> float:
    return _NAN if x is None else x


def _back(x: float) -> float | None:
    return None if math.isnan(x) else x


def profile_to_pb(p: Profile) -> admin_pb2.Profile:
    hw, pw, b = p.hardware, p.power, p.budgets
    return admin_pb2.Profile(
        name=p.name,
        description=p.description,
        runtime=p.runtime,
        full_integer_only=p.full_integer_only,
        hardware=admin_pb2.Hardware(
            cpu=hw.cpu,
            cores=hw.cores,
            ram_bytes=hw.ram_bytes,
            storage_bytes=hw.storage_bytes,
            sram_bytes=hw.sram_bytes,
            flash_bytes=hw.flash_bytes,
        ),
        power=admin_pb2.PowerModel(
            kind=pw.kind,
            idle_watts=pw.idle_watts,
            active_watts=pw.active_watts,
            ops_scale=pw.ops_scale,
            energy_per_mac_joules=pw.energy_per_mac_joules,
            float_mac_factor=pw.float_mac_factor,
            latency_scale=pw.latency_scale,
            macs_per_second=pw.macs_per_second,
        ),
        budgets=admin_pb2.Budgets(
            accuracy_floor=b.accuracy_floor,
            max_energy_joules=b.max_energy_joules,
            max_latency_p95_seconds=b.max_latency_p95_seconds,
            max_model_bytes=b.max_model_bytes,
            max_peak_memory_bytes=b.max_peak_memory_bytes,
            max_accuracy_drop=b.max_accuracy_drop,
        ),
        sources=list(p.sources),
        origin=p.origin,
    )


def profile_from_pb(m: admin_pb2.Profile) -> Profile:
    hw, pw, b = m.hardware, m.power, m.budgets
    return Profile(
        name=m.name,
        description=m.description,
        runtime="tflite-micro" if m.runtime == "tflite-micro" else "litert",
        full_integer_only=m.full_integer_only,
        hardware=Hardware(hw.cores, hw.ram_bytes, hw.storage_bytes, hw.sram_bytes, hw.flash_bytes, hw.cpu),
        power=PowerModel(
            idle_watts=pw.idle_watts,
            active_watts=pw.active_watts,
            kind="per-mac" if pw.kind == "per-mac" else "ops",
            ops_scale=pw.ops_scale,
            energy_per_mac_joules=pw.energy_per_mac_joules,
            float_mac_factor=pw.float_mac_factor,
            latency_scale=pw.latency_scale,
            macs_per_second=pw.macs_per_second,
        ),
        budgets=Budgets(
            b.accuracy_floor,
            b.max_energy_joules,
            b.max_latency_p95_seconds,
            b.max_model_bytes,
            b.max_peak_memory_bytes,
            b.max_accuracy_drop,
        ),
        sources=tuple(m.sources),
        origin=m.origin,
    )


def _ref(v: VariantKey) -> common_pb2.VariantRef:
    return common_pb2.VariantRef(variant_id=v.variant_id, model=v.model, recipe=v.recipe)


def _candidate_to_pb(c: Candidate) -> admin_pb2.PlanCandidate:
    f = c.figures
    return admin_pb2.PlanCandidate(
        variant=_ref(c.variant),
        base_name=c.variant.base_name,
        figures=admin_pb2.PlanFigures(
            accuracy=_opt(f.accuracy),
            energy_joules=f.energy_j,
            latency_p95_seconds=f.latency_p95_s,
            size_bytes=f.size_bytes,
            peak_memory_bytes=f.peak_memory_bytes,
            energy_kind=kind_pb(f.energy_kind),
            measured_windows=f.windows,
            energy_sigma_joules=f.energy_sigma_j,
            energy_source=f.energy_source,
            accuracy_source=f.accuracy_source,
            base_accuracy=_opt(f.base_accuracy),
            latency_kind=kind_pb(f.latency_kind),
            energy_figure=_figure_pb(f.energy_figure),
            latency_figure=_figure_pb(f.latency_figure),
            energy_error=f.energy_error,
            latency_error=f.latency_error,
            latency_source=f.latency_source,
        ),
        feasible=c.feasible,
        reasons=list(c.reasons),
        pareto=c.pareto,
        violation=c.violation,
    )


def _candidate_from_pb(m: admin_pb2.PlanCandidate) -> Candidate:
    f = m.figures
    figures = Figures(
        accuracy=_back(f.accuracy),
        accuracy_source=f.accuracy_source,
        base_accuracy=_back(f.base_accuracy),
        energy_j=f.energy_joules,
        energy_sigma_j=f.energy_sigma_joules,
        energy_kind=KIND_FROM_PB.get(f.energy_kind, "estimated"),
        energy_source=f.energy_source,
        latency_p95_s=f.latency_p95_seconds,
        latency_kind=KIND_FROM_PB.get(f.latency_kind, "estimated"),
        size_bytes=f.size_bytes,
        peak_memory_bytes=f.peak_memory_bytes,
        windows=f.measured_windows,
        energy_figure=_figure(f.energy_figure),
        latency_figure=_figure(f.latency_figure),
        energy_error=f.energy_error if f.HasField("energy_error") else None,
        latency_error=f.latency_error if f.HasField("latency_error") else None,
        latency_source=f.latency_source,
    )
    key = VariantKey(m.variant.variant_id, m.variant.model, m.base_name, m.variant.recipe)
    return Candidate(key, figures, tuple(m.reasons), m.violation, True, m.pareto)


def _error_to_pb(e: LooError) -> admin_pb2.EstimatorError:
    return admin_pb2.EstimatorError(
        points=e.points,
        median_abs_log_error=e.median_abs_log,
        max_abs_log_error=e.max_abs_log,
        spearman=e.spearman,
    )


def _error_from_pb(m: admin_pb2.EstimatorError) -> LooError:
    return LooError(
        m.points,
        m.median_abs_log_error if m.HasField("median_abs_log_error") else None,
        m.max_abs_log_error if m.HasField("max_abs_log_error") else None,
        m.spearman if m.HasField("spearman") else None,
    )


def _fit_to_pb(f: TargetFit) -> admin_pb2.EstimatorFit:
    return admin_pb2.EstimatorFit(
        target=f.target,
        kind=_figure_pb(f.kind),
        variants=f.variants,
        min_variants=f.min_variants,
        coefficients=[
            admin_pb2.EstimatorCoefficient(name=c.name, value=c.value, fitted=c.fitted, note=c.note)
            for c in f.coefficients
        ],
        baseline_class=f.baseline_class,
        measured_classes=list(f.measured_classes),
        prior_scale=f.prior_scale,
        residual_log_rms=f.residual,
        before=_error_to_pb(f.before),
        after=_error_to_pb(f.after),
        trained_on=list(f.trained_on),
        note=f.note,
        dummy_classes=list(f.dummy_classes),
    )


def _fit_from_pb(m: admin_pb2.EstimatorFit) -> TargetFit:
    return TargetFit(
        target=m.target,
        kind=_figure(m.kind),
        variants=m.variants,
        coefficients=tuple(Coefficient(c.name, c.value, c.fitted, c.note) for c in m.coefficients),
        baseline_class=m.baseline_class,
        dummy_classes=tuple(m.dummy_classes),
        measured_classes=tuple(m.measured_classes),
        prior_scale=m.prior_scale,
        residual=m.residual_log_rms if m.HasField("residual_log_rms") else None,
        before=_error_from_pb(m.before),
        after=_error_from_pb(m.after),
        trained_on=tuple(m.trained_on),
        min_variants=m.min_variants,
        note=m.note,
    )


def plan_to_pb(plan: ProfilePlan) -> admin_pb2.ProfilePlan:
    msg = admin_pb2.ProfilePlan(
        profile=plan.profile,
        objective=plan.objective,
        candidates=[_candidate_to_pb(c) for c in plan.candidates],
        summary=plan.summary,
        compared_kinds=[_figure_pb(k) for k in plan.compared_kinds],
        comparison=plan.comparison,
    )
    if plan.estimators is not None:
        msg.estimators.CopyFrom(
            admin_pb2.PlanEstimators(
                energy=_fit_to_pb(plan.estimators.energy), latency=_fit_to_pb(plan.estimators.latency)
            )
        )
    if plan.chosen is not None:
        msg.chosen.CopyFrom(_ref(plan.chosen.variant))
    if plan.least_violating is not None:
        msg.least_violating.CopyFrom(_ref(plan.least_violating.variant))
    return msg


def plan_from_pb(m: admin_pb2.ProfilePlan) -> ProfilePlan:
    candidates = tuple(_candidate_from_pb(c) for c in m.candidates)
    by_id = {c.variant.variant_id: c for c in candidates}
    chosen = by_id.get(m.chosen.variant_id) if m.HasField("chosen") else None
    least = by_id.get(m.least_violating.variant_id) if m.HasField("least_violating") else None
    estimators = (
        Estimators(_fit_from_pb(m.estimators.energy), _fit_from_pb(m.estimators.latency))
        if m.HasField("estimators")
        else None
    )
    return ProfilePlan(
        m.profile,
        m.objective,
        chosen,
        least,
        candidates,
        m.summary,
        compared_kinds=tuple(_figure(k) for k in m.compared_kinds),
        comparison=m.comparison,
        estimators=estimators,
    )
