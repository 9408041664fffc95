"""The variant card: static facts, host figures and the energy estimate, computed once and stored."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from edgefleet.agent.runtime.micro import ArenaUsage
from edgefleet.orchestrator.energy.opcount import OpCountEstimate, estimate_ops_energy
from edgefleet.orchestrator.variants.analyser import StaticFacts

__all__ = ["HostFigures", "PruningRecord", "VariantCard", "VariantKey", "ops_energy_of"]


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
class PruningRecord:
    """How a pruned base was made (Early-Bird channel pruning): the same for every recipe built from it."""

    #: Share of each channel group's channels removed.
    ratio: float
    #: Epochs of L1-regularised training when the ticket was drawn (1-based).
    ticket_epoch: int
    #: False: the mask distance never fell under the threshold within ``search_epochs``; the last
    #: epoch's mask was taken.
    ticket_drawn: bool
    #: Mask-distance threshold and the distance at the ticket (largest over the queue of masks).
    threshold: float
    mask_distance: float
    search_epochs: int
    finetune_epochs: int
    #: L1 penalty on the batch-norm scales during the search.
    l1: float
    macs_before: int
    macs_after: int
    parameters_before: int
    parameters_after: int
    channels_before: int
    channels_after: int
    method: str = "early-bird"

    def describe(self) -> str:
        distance = f"mask distance {self.mask_distance:.3f}"
        ticket = (
            f"ticket at epoch {self.ticket_epoch} ({distance} < {self.threshold:g})"
            if self.ticket_drawn
            else f"no ticket within {self.search_epochs} epochs ({distance}); the last mask was taken"
        )
        return (
            f"{self.method} pruning {self.ratio:g}: {ticket}; channels {self.channels_before} -> "
            f"{self.channels_after}, MACs {self.macs_before:,} -> {self.macs_after:,}, parameters "
            f"{self.parameters_before:,} -> {self.parameters_after:,}; "
            f"fine-tuned {self.finetune_epochs} epochs"
        )


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
    #: Set when the base was pruned on the build path (``variants build --prune``).
    pruning: PruningRecord | None = None

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
            pruning=PruningRecord(**d["pruning"]) if d.get("pruning") else None,
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
