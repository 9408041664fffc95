"""Agent-side conversions between domain objects and protobuf (the agent's only protobuf edge)."""

from __future__ import annotations

from agent.hardware import HardwareFacts
from agent.slots import SlotInfo, VariantInfo
from protos.edgefleet.v1 import common_pb2

__all__ = ["hardware_pb", "slot_pb", "variant_from_pb", "variant_pb"]

_SLOT_STATES = {
    "empty": common_pb2.SLOT_STATE_EMPTY,
    "standby": common_pb2.SLOT_STATE_STANDBY,
    "trial": common_pb2.SLOT_STATE_TRIAL,
    "committed": common_pb2.SLOT_STATE_COMMITTED,
    "failed": common_pb2.SLOT_STATE_FAILED,
}


def variant_pb(v: VariantInfo) -> common_pb2.VariantRef:
    return common_pb2.VariantRef(variant_id=v.variant_id, model=v.model, recipe=v.recipe)


def variant_from_pb(ref: common_pb2.VariantRef, base_name: str = "") -> VariantInfo:
    return VariantInfo(ref.variant_id, ref.model, ref.recipe, base_name)


def slot_pb(s: SlotInfo) -> common_pb2.Slot:
    msg = common_pb2.Slot(
        name=common_pb2.SLOT_NAME_A if s.name == "a" else common_pb2.SLOT_NAME_B,
        state=_SLOT_STATES[s.state],
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
