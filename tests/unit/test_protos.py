"""The generated wire contract imports from its proto path and round-trips."""

from __future__ import annotations

from edgefleet.v1 import admin_pb2, common_pb2, control_pb2, control_pb2_grpc, inference_pb2_grpc


def test_agent_message_round_trip() -> None:
    hello = control_pb2.Hello(
        device_id="dev-1",
        profile="rpi4",
        runtime=common_pb2.RuntimeInfo(name="ai-edge-litert", version="2.3.0"),
        active=common_pb2.VariantRef(variant_id="ab" * 32, model="digits", recipe="fp16"),
        slots=[common_pb2.Slot(name=common_pb2.SLOT_NAME_A, state=common_pb2.SLOT_STATE_TRIAL)],
    )
    wire = control_pb2.AgentMessage(hello=hello).SerializeToString()
    back = control_pb2.AgentMessage.FromString(wire)
    assert back.WhichOneof("body") == "hello"
    assert back.hello == hello


def test_services_are_generated() -> None:
    assert hasattr(control_pb2_grpc, "FleetControlServicer")
    assert hasattr(inference_pb2_grpc, "InferenceStub")
    names = {m.name for m in admin_pb2.DESCRIPTOR.services_by_name["FleetAdmin"].methods}
    assert {"BuildVariants", "Plan", "StartRollout", "Rollback", "ListEvents"} <= names


def test_optional_fields_distinguish_absent_from_zero() -> None:
    energy = common_pb2.EnergyFigure(gross_joules_per_inference=1e-3)
    assert not energy.HasField("dynamic_joules_per_inference")
    energy.dynamic_joules_per_inference = 0.0
    assert energy.HasField("dynamic_joules_per_inference")
