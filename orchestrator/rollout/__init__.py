"""Rollouts: waves, statistical analysis of budgets per window, decisions, rollback."""
