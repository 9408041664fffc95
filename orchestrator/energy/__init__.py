"""Energy per inference: estimates from the operation-count model (measured figures come from agents)."""
