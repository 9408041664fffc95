"""The variant card: static facts, host figures and the energy estimate, computed once and stored."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from edgefleet.agent.runtime.micro import ArenaUsage
from edgefleet.orchestrator.energy.opcount import OpCountEstimate, estimate_ops_energy
from edgefleet.orchestrator.variants.analyser import StaticFacts

__all__ = ["HostFigures", "VariantCard", "VariantKey", "ops_energy_of"]


@dataclass(frozen=True, slots=True)
class VariantKey:
    """What names a variant: its content address and where it comes from."""

    variant_id: str
    model: str
    base_name: str
    recipe: str

    @property
    def short_id(self) -> str:
        return self.variant_id[:12]

    def __str__(self) -> str:
        return f"{self.model} {self.base_name} {self.recipe} ({self.short_id})"


@dataclass(frozen=True, slots=True)
class HostFigures:
    """Accuracy on the family's evaluation set and latency on the orchestrator host."""

    accuracy: float | None
    samples: int
    latency_p50_s: float
    latency_p95_s: float
    threads: int
    runtime: str


@dataclass(frozen=True, slots=True)
class VariantCard:
    variant_id: str
    model: str
    recipe: str
    base_name: str
    facts: StaticFacts
    host: HostFigures
    ops_energy: OpCountEstimate
    signature: bytes
    signing_key_id: str
    created: float
    notes: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return self.variant_id

    @property
    def short_id(self) -> str:
        return self.variant_id[:12]

    @property
    def key(self) -> VariantKey:
        return VariantKey(self.variant_id, self.model, self.base_name, self.recipe)

    def to_json(self) -> str:

        data = asdict(self)
        data["signature"] = self.signature.hex()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> VariantCard:
        d: dict[str, Any] = json.loads(text)
        facts = dict(d["facts"])
        facts["tflm_arena"] = ArenaUsage(**facts["tflm_arena"]) if facts["tflm_arena"] else None
        facts["ops"] = tuple(facts["ops"])
        host = dict(d["host"])
        if host["accuracy"] is not None and math.isnan(host["accuracy"]):
            host["accuracy"] = None
        return cls(
            variant_id=d["variant_id"],
            model=d["model"],
            recipe=d["recipe"],
            base_name=d["base_name"],
            facts=StaticFacts(**facts),
            host=HostFigures(**host),
            ops_energy=OpCountEstimate(**d["ops_energy"]),
            signature=bytes.fromhex(d["signature"]),
            signing_key_id=d["signing_key_id"],
            created=float(d["created"]),
            notes=tuple(d.get("notes", ())),
        )


def ops_energy_of(facts: StaticFacts) -> OpCountEstimate:
    compute = facts.macs["conv"] + facts.macs["depthwise"] + facts.macs["fully_connected"]
    return estimate_ops_energy(
        compute_macs=compute,
        other_ops=facts.macs["other"],
        compute_dtype=facts.compute_dtype,
        weight_read_bytes=facts.weight_read_bytes,
        activation_traffic_bytes=facts.activation_traffic_bytes,
    )
