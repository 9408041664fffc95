"""The enum tables between the shared domain enums and ``edgefleet.v1`` (both directions), and the
converters both sides use for the same message."""

from __future__ import annotations

from edgefleet.core.enums import DeploymentPhase, EnergyKind, FaultDomain, SlotState
from edgefleet.v1 import common_pb2

__all__ = [
    "FAULT_FROM_PB",
    "FAULT_TO_PB",
    "KIND_FROM_PB",
    "KIND_TO_PB",
    "PHASE_FROM_PB",
    "PHASE_TO_PB",
    "SLOT_STATE_FROM_PB",
    "SLOT_STATE_TO_PB",
    "energy_pb",
    "kind_pb",
]

KIND_TO_PB: dict[EnergyKind, common_pb2.MeasurementKind.ValueType] = {
    EnergyKind.MEASURED: common_pb2.MEASUREMENT_KIND_MEASURED,
    EnergyKind.DERIVED: common_pb2.MEASUREMENT_KIND_DERIVED,
    EnergyKind.ESTIMATED: common_pb2.MEASUREMENT_KIND_ESTIMATED,
}
KIND_FROM_PB = {v: k for k, v in KIND_TO_PB.items()}

SLOT_STATE_TO_PB: dict[SlotState, common_pb2.SlotState.ValueType] = {
    SlotState.EMPTY: common_pb2.SLOT_STATE_EMPTY,
    SlotState.STANDBY: common_pb2.SLOT_STATE_STANDBY,
    SlotState.TRIAL: common_pb2.SLOT_STATE_TRIAL,
    SlotState.COMMITTED: common_pb2.SLOT_STATE_COMMITTED,
    SlotState.FAILED: common_pb2.SLOT_STATE_FAILED,
}
SLOT_STATE_FROM_PB = {v: k for k, v in SLOT_STATE_TO_PB.items()}

PHASE_TO_PB: dict[DeploymentPhase, common_pb2.DeploymentPhase.ValueType] = {
    DeploymentPhase.DOWNLOADING: common_pb2.DEPLOYMENT_PHASE_DOWNLOADING,
    DeploymentPhase.VERIFYING: common_pb2.DEPLOYMENT_PHASE_VERIFYING,
    DeploymentPhase.INSTALLING: common_pb2.DEPLOYMENT_PHASE_INSTALLING,
    DeploymentPhase.TRIAL: common_pb2.DEPLOYMENT_PHASE_TRIAL,
    DeploymentPhase.COMMITTED: common_pb2.DEPLOYMENT_PHASE_COMMITTED,
    DeploymentPhase.FAILED: common_pb2.DEPLOYMENT_PHASE_FAILED,
    DeploymentPhase.ROLLED_BACK: common_pb2.DEPLOYMENT_PHASE_ROLLED_BACK,
}
PHASE_FROM_PB = {v: k for k, v in PHASE_TO_PB.items()}
_KINDS = frozenset(EnergyKind)

FAULT_TO_PB: dict[FaultDomain, common_pb2.FaultDomain.ValueType] = {
    FaultDomain.UNKNOWN: common_pb2.FAULT_DOMAIN_UNSPECIFIED,
    FaultDomain.VARIANT: common_pb2.FAULT_DOMAIN_VARIANT,
    FaultDomain.DEVICE: common_pb2.FAULT_DOMAIN_DEVICE,
}
FAULT_FROM_PB = {v: k for k, v in FAULT_TO_PB.items()}


def kind_pb(kind: str) -> common_pb2.MeasurementKind.ValueType:
    """An energy kind's wire value (an unknown kind is an estimate: never claim more than is known)."""
    return KIND_TO_PB[EnergyKind(kind)] if kind in _KINDS else common_pb2.MEASUREMENT_KIND_ESTIMATED


def energy_pb(
    gross: float,
    dynamic: float | None,
    sigma: float,
    kind: str,
    method: str,
    dynamic_sigma: float | None = None,
) -> common_pb2.EnergyFigure:
    msg = common_pb2.EnergyFigure(
        gross_joules_per_inference=gross,
        sigma_joules=sigma,
        kind=kind_pb(kind),
        method=method,
    )
    if dynamic is not None:
        msg.dynamic_joules_per_inference = dynamic
        if dynamic_sigma is not None:
            msg.dynamic_sigma_joules = dynamic_sigma
    return msg
