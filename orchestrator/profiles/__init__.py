"""Device profiles: hardware facts, a power model and budgets (built-in TOML files plus the user's)."""

from edgefleet.orchestrator.profiles.loader import ProfileRegistry, load_profile_file, parse_profile
from edgefleet.orchestrator.profiles.model import Budgets, Hardware, PowerModel, Profile

__all__ = [
    "Budgets",
    "Hardware",
    "PowerModel",
    "Profile",
    "ProfileRegistry",
    "load_profile_file",
    "parse_profile",
]
