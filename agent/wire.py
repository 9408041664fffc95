"""Agent-side conversions between domain objects and protobuf (the agent's only protobuf edge)."""

from __future__ import annotations

from edgefleet.agent.hardware import HardwareFacts
from edgefleet.agent.slots import SlotInfo, VariantInfo
from edgefleet.agent.telemetry.windows import Window
from edgefleet.core.enums import SlotState
from edgefleet.core.wire import SLOT_STATE_TO_PB, energy_pb
from edgefleet.v1 import common_pb2

__all__ = [
    "hardware_pb",
    "slot_pb",
    "variant_from_pb",
    "variant_pb",
    "window_pb",
]


def variant_pb(v: VariantInfo) -> common_pb2.VariantRef:
    return common_pb2.VariantRef(variant_id=v.variant_id, model=v.model, recipe=v.recipe)


def variant_from_pb(ref: common_pb2.VariantRef, base_name: str = "") -> VariantInfo:
    return VariantInfo(ref.variant_id, ref.model, ref.recipe, base_name)


def slot_pb(s: SlotInfo) -> common_pb2.Slot:
    msg = common_pb2.Slot(
        name=common_pb2.SLOT_NAME_A if s.name == "a" else common_pb2.SLOT_NAME_B,
        state=SLOT_STATE_TO_PB[SlotState(s.state)],
        reason=s.reason,
    )
    if s.variant is not None:
        msg.variant.CopyFrom(variant_pb(s.variant))
    if s.since:
        msg.since.FromNanoseconds(int(s.since * 1e9))
    return msg


def hardware_pb(h: HardwareFacts) -> common_pb2.HardwareFacts:
    return common_pb2.HardwareFacts(
        cpu_count=h.cpu_count,
        memory_bytes=h.memory_bytes,
        storage_bytes=h.storage_bytes,
        machine=h.machine,
        platform=h.platform,
        board=h.board,
    )


def window_pb(w: Window, seq: int) -> common_pb2.TelemetryWindow:
    msg = common_pb2.TelemetryWindow(
        sequence=seq,
        inferences=w.inferences,
        latency=common_pb2.LatencySummary(
            p50_seconds=w.latency_p50_s,
            p95_seconds=w.latency_p95_s,
            p99_seconds=w.latency_p99_s,
            mean_seconds=w.latency_mean_s,
        ),
        labelled=w.labelled,
        correct=w.correct,
        cpu_percent=w.cpu_percent,
        rss_bytes=w.rss_bytes,
        flags=list(w.flags),
    )
    if w.variant is not None:
        msg.variant.CopyFrom(variant_pb(w.variant))
    msg.start.FromNanoseconds(int(w.start * 1e9))
    msg.end.FromNanoseconds(int(w.end * 1e9))
    if w.gross_j is not None:
        msg.energy.CopyFrom(energy_pb(w.gross_j, w.dynamic_j, w.sigma_j, w.energy_kind, w.energy_method))
    if w.temperature_c is not None:
        msg.temperature_celsius = w.temperature_c
    return msg
