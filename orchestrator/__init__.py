"""edgefleet orchestrator: variants, profiles, selection, rollouts, the control plane and the CLI."""

__version__ = "0.1.0"
