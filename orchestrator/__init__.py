"""edgefleet orchestrator: variants, profiles, selection, rollouts, the control plane and the CLI."""
