"""Telemetry summaries (FleetAdmin GetTelemetry) -> protobuf."""

from __future__ import annotations

import math

from edgefleet.core.wire import kind_pb
from edgefleet.orchestrator.service.telemetry import VariantTelemetry
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = ["telemetry_to_pb"]


def telemetry_to_pb(model: str, r: VariantTelemetry) -> admin_pb2.VariantTelemetry:
    msg = admin_pb2.VariantTelemetry(
        profile=r.profile,
        variant=common_pb2.VariantRef(variant_id=r.variant_id, model=model, recipe=r.recipe),
        windows=r.windows,
        devices=r.devices,
        inferences=r.inferences,
        energy_joules_mean=r.energy_j,
        energy_joules_sigma=r.energy_sigma_j,
        energy_kind=kind_pb(r.energy_kind),
        energy_methods=list(r.energy_methods),
        latency_p95_seconds=r.latency_p95_s,
        labelled=r.scored,
        correct=r.correct,
        energy_measure=r.measure,
        feedback_labelled=r.feedback_labelled,
        feedback_correct=r.feedback_correct,
    )
    for name, value in (
        ("correction", r.correction),
        ("gross_joules_mean", r.gross_j),
        ("dynamic_joules_mean", r.dynamic_j),
    ):
        if value is not None and math.isfinite(value):
            setattr(msg, name, value)
    return msg
