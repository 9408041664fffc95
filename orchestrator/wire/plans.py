"""Profiles and plans <-> protobuf (edges only: the FleetAdmin servicer and the client)."""

from __future__ import annotations

import math

from edgefleet.core.wire import KIND_FROM_PB, kind_pb
from edgefleet.orchestrator.profiles.model import Budgets, Hardware, PowerModel, Profile
from edgefleet.orchestrator.selection import Candidate, Figures, ProfilePlan
from edgefleet.orchestrator.variants.card import VariantKey
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["plan_from_pb", "plan_to_pb", "profile_from_pb", "profile_to_pb"]

_NAN = float("nan")


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
    )
    key = VariantKey(m.variant.variant_id, m.variant.model, m.base_name, m.variant.recipe)
    return Candidate(key, figures, tuple(m.reasons), m.violation, True, m.pareto)


def plan_to_pb(plan: ProfilePlan) -> admin_pb2.ProfilePlan:
    msg = admin_pb2.ProfilePlan(
        profile=plan.profile,
        objective=plan.objective,
        candidates=[_candidate_to_pb(c) for c in plan.candidates],
        summary=plan.summary,
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
    return ProfilePlan(m.profile, m.objective, chosen, least, candidates, m.summary)
