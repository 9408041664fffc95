"""The state and kind names both sides share. ``StrEnum``: each member is its own wire-stable string, so
stored JSON and comparisons with plain strings keep working."""

from __future__ import annotations

import enum

__all__ = ["DeploymentPhase", "EnergyKind", "FaultDomain", "FigureKind", "SlotState"]


class EnergyKind(enum.StrEnum):
    """How an energy figure was obtained."""

    MEASURED = "measured"  # a sensor on the device
    DERIVED = "derived"  # computed from measured quantities (V x I)
    ESTIMATED = "estimated"  # a model (CPU time x power, operation counts)


class FigureKind(enum.StrEnum):
    """Where a plan's figure for a variant on a profile comes from, most trusted first."""

    MEASURED = "measured"  # devices of the profile measured this variant with a sensor
    ESTIMATED_ON_DEVICE = "estimated-on-device"  # devices ran it; energy from their CPU-time estimator
    LEARNT = "learnt"  # the profile's model fitted on the variants its devices measured
    PRIOR = "prior"  # the operation-count or per-MAC model (scaled to whatever was measured)


class SlotState(enum.StrEnum):
    EMPTY = "empty"
    STANDBY = "standby"
    TRIAL = "trial"
    COMMITTED = "committed"
    FAILED = "failed"


class DeploymentPhase(enum.StrEnum):
    """Where a device is with its desired state (what DeploymentStatus reports)."""

    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    TRIAL = "trial"
    COMMITTED = "committed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class FaultDomain(enum.StrEnum):
    """Whose fault a failed deployment is: only the variant's faults block a variant for a profile."""

    UNKNOWN = ""
    VARIANT = "variant"  # does not load, self-test disagreement, inference errors
    DEVICE = "device"  # stopped during the trial, disk full, download refused or cut
