"""Domain objects <-> protobuf messages. Used only at the edges: servicers and clients."""

from __future__ import annotations

import dataclasses

from google.protobuf.timestamp_pb2 import Timestamp

from edgefleet.agent.runtime.micro import ArenaUsage
from edgefleet.orchestrator.energy.opcount import OpCountEstimate
from edgefleet.orchestrator.service.variants import BuildResult, Progress
from edgefleet.orchestrator.variants.analyser import StaticFacts
from edgefleet.orchestrator.variants.builder import Skipped
from edgefleet.orchestrator.variants.card import HostFigures, PruningRecord, VariantCard
from edgefleet.v1 import admin_pb2, common_pb2

__all__ = [
    "build_result_from_pb",
    "build_result_to_pb",
    "card_from_pb",
    "card_to_pb",
    "progress_to_pb",
    "pruning_from_pb",
    "pruning_to_pb",
]

_MAC_CLASSES = ("conv", "depthwise", "fully_connected", "other")


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def pruning_to_pb(record: PruningRecord) -> admin_pb2.PruningRecord:
    return admin_pb2.PruningRecord(**dataclasses.asdict(record))


def pruning_from_pb(msg: admin_pb2.PruningRecord) -> PruningRecord:
    return PruningRecord(**{f.name: getattr(msg, f.name) for f in dataclasses.fields(PruningRecord)})


def card_to_pb(card: VariantCard) -> admin_pb2.VariantCard:
    f, h, e = card.facts, card.host, card.ops_energy
    msg = admin_pb2.VariantCard(
        ref=common_pb2.VariantRef(variant_id=card.variant_id, model=card.model, recipe=card.recipe),
        base_name=card.base_name,
        size_bytes=f.size_bytes,
        parameters=f.parameters,
        macs=[admin_pb2.MacCount(op_class=k, macs=f.macs.get(k, 0)) for k in _MAC_CLASSES],
        total_macs=f.total_macs,
        ops=list(f.ops),
        tensor_dtypes=[admin_pb2.TensorTypeCount(dtype=k, count=v) for k, v in f.tensor_dtypes.items()],
        hybrid=f.hybrid,
        full_integer=f.full_integer,
        has_signature=f.has_signature,
        compute_dtype=f.compute_dtype,
        peak_activation_bytes=f.peak_activation_bytes,
        tflm_refusal=f.tflm_refusal,
        host_accuracy=h.accuracy if h.accuracy is not None else float("nan"),
        eval_samples=h.samples,
        host_latency_p50_seconds=h.latency_p50_s,
        host_latency_p95_seconds=h.latency_p95_s,
        host_threads=h.threads,
        sha256=card.variant_id,
        signature=card.signature,
        signing_key_id=card.signing_key_id,
        created=_ts(card.created),
        weight_bytes=f.weight_bytes,
        max_live_bytes=f.max_live_bytes,
        weight_read_bytes=f.weight_read_bytes,
        activation_traffic_bytes=f.activation_traffic_bytes,
        ops_energy=admin_pb2.OpCountEnergy(
            compute_joules=e.compute_j, weights_joules=e.weights_j, activations_joules=e.activations_j
        ),
        host_runtime=h.runtime,
        notes=list(card.notes),
    )
    if f.tflm_arena is not None:
        msg.tflm_arena_bytes = f.tflm_arena.total
        msg.tflm_arena_head_bytes = f.tflm_arena.head
        msg.tflm_arena_tail_bytes = f.tflm_arena.tail
    if card.pruning is not None:
        msg.pruning.CopyFrom(pruning_to_pb(card.pruning))
    return msg


def card_from_pb(msg: admin_pb2.VariantCard) -> VariantCard:
    arena = None
    if msg.HasField("tflm_arena_bytes"):
        arena = ArenaUsage(msg.tflm_arena_bytes, msg.tflm_arena_head_bytes, msg.tflm_arena_tail_bytes)
    accuracy = msg.host_accuracy if msg.host_accuracy == msg.host_accuracy else None  # NaN: not measured
    facts = StaticFacts(
        size_bytes=msg.size_bytes,
        parameters=msg.parameters,
        weight_bytes=msg.weight_bytes,
        weight_read_bytes=msg.weight_read_bytes,
        activation_traffic_bytes=msg.activation_traffic_bytes,
        macs={m.op_class: m.macs for m in msg.macs},
        ops=tuple(msg.ops),
        tensor_dtypes={t.dtype: t.count for t in msg.tensor_dtypes},
        hybrid=msg.hybrid,
        full_integer=msg.full_integer,
        has_signature=msg.has_signature,
        compute_dtype=msg.compute_dtype,
        peak_activation_bytes=msg.peak_activation_bytes,
        max_live_bytes=msg.max_live_bytes,
        tflm_arena=arena,
        tflm_refusal=msg.tflm_refusal,
    )
    return VariantCard(
        variant_id=msg.ref.variant_id,
        model=msg.ref.model,
        recipe=msg.ref.recipe,
        base_name=msg.base_name,
        facts=facts,
        host=HostFigures(
            accuracy=accuracy,
            samples=msg.eval_samples,
            latency_p50_s=msg.host_latency_p50_seconds,
            latency_p95_s=msg.host_latency_p95_seconds,
            threads=msg.host_threads,
            runtime=msg.host_runtime,
        ),
        ops_energy=OpCountEstimate(
            msg.ops_energy.compute_joules, msg.ops_energy.weights_joules, msg.ops_energy.activations_joules
        ),
        signature=msg.signature,
        signing_key_id=msg.signing_key_id,
        created=msg.created.ToNanoseconds() / 1e9,
        notes=tuple(msg.notes),
        pruning=pruning_from_pb(msg.pruning) if msg.HasField("pruning") else None,
    )


def progress_to_pb(p: Progress) -> admin_pb2.BuildProgress:
    return admin_pb2.BuildProgress(stage=p.stage, done=p.done, total=p.total)


def build_result_to_pb(result: BuildResult) -> admin_pb2.BuildResult:
    return admin_pb2.BuildResult(
        variants=[card_to_pb(c) for c in result.variants],
        skipped=[admin_pb2.SkippedRecipe(recipe=s.recipe, reason=s.reason) for s in result.skipped],
    )


def build_result_from_pb(msg: admin_pb2.BuildResult) -> BuildResult:
    return BuildResult(
        variants=tuple(card_from_pb(c) for c in msg.variants),
        skipped=tuple(Skipped(s.recipe, s.reason) for s in msg.skipped),
    )
