"""Synthetic variant cards for table tests of selection (figures chosen by the test, not measured)."""

from __future__ import annotations

import hashlib

from edgefleet.agent.runtime.micro import ArenaUsage
from edgefleet.orchestrator.energy.opcount import OpCountEstimate
from edgefleet.orchestrator.variants.analyser import StaticFacts
from edgefleet.orchestrator.variants.card import HostFigures, VariantCard


def card(
    name: str,
    *,
    recipe: str = "static_wi8_ai8",
    base: str = "w1",
    accuracy: float | None = 0.95,
    ops_j: float = 1e-6,
    latency_s: float = 1e-4,
    size: int = 10_000,
    macs: int = 100_000,
    hybrid: bool = False,
    full_integer: bool = True,
    arena: int | None = 16_000,
    refusal: str = "",
    peak: int = 8_000,
    weight_read: int = 4_000,
) -> VariantCard:
    facts = StaticFacts(
        size_bytes=size,
        parameters=1000,
        weight_bytes=weight_read,
        weight_read_bytes=weight_read,
        activation_traffic_bytes=10_000,
        macs={"conv": macs, "depthwise": 0, "fully_connected": 0, "other": 0},
        ops=("CONV_2D",),
        tensor_dtypes={"int8": 4} if full_integer else {"float32": 4},
        hybrid=hybrid,
        full_integer=full_integer,
        has_signature=True,
        compute_dtype="int8" if (full_integer or hybrid) else "float32",
        peak_activation_bytes=peak,
        max_live_bytes=peak,
        tflm_arena=ArenaUsage(arena, arena - 1000, 1000) if arena is not None else None,
        tflm_refusal=refusal,
    )
    return VariantCard(
        variant_id=hashlib.sha256(name.encode()).hexdigest(),
        model="m",
        recipe=recipe,
        base_name=base,
        facts=facts,
        host=HostFigures(accuracy, 360 if accuracy is not None else 0, latency_s * 0.8, latency_s, 1, "test"),
        ops_energy=OpCountEstimate(ops_j, 0.0, 0.0),
        signature=b"",
        signing_key_id="",
        created=0.0,
    )
