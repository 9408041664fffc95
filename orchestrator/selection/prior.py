"""The prior: energy and latency of a variant on a profile before any device measured anything.

Energy: the 45 nm operation-count model x the profile's ``ops_scale``, or MACs x energy per MAC (MCUs).
Latency: MACs / MAC rate, or the orchestrator host's p95 x the profile's ``latency_scale``. Known to be
wrong in direction, not only in scale, on real kernels; the learnt estimate (learned.py) corrects it.
"""

from __future__ import annotations

from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.variants.card import VariantCard

__all__ = ["estimate", "latency_method"]


def _mac_factor(profile: Profile, dtype: str) -> float:
    if dtype.startswith("float"):
        return profile.power.float_mac_factor
    if dtype == "int16":
        return max(1.0, profile.power.float_mac_factor / 2)
    return 1.0


def estimate(card: VariantCard, profile: Profile) -> tuple[float, float, str]:
    """(energy J, latency p95 s, method) before any device measured anything."""
    power, facts = profile.power, card.facts
    factor = _mac_factor(profile, facts.compute_dtype)
    if power.kind == "per-mac":
        energy = facts.total_macs * power.energy_per_mac_joules * factor
        method = (
            f"estimate:per-mac ({power.energy_per_mac_joules:.1e} J/MAC x{factor:g} {facts.compute_dtype})"
        )
    else:
        energy = card.ops_energy.total_j * power.ops_scale
        method = f"estimate:ops (45 nm op count x{power.ops_scale:g})"
    if power.macs_per_second > 0:
        latency = facts.total_macs * factor / power.macs_per_second
    else:
        latency = card.host.latency_p95_s * power.latency_scale
    return energy, latency, method


def latency_method(profile: Profile) -> str:
    """How :func:`estimate` got its latency."""
    power = profile.power
    if power.macs_per_second > 0:
        return f"estimate:mac-rate (MACs / {power.macs_per_second:.1e} MAC/s)"
    return f"estimate:host (orchestrator host p95 x{power.latency_scale:g})"
