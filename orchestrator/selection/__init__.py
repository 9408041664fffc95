"""Selection: the best variant per device profile, and why every other variant lost."""

from orchestrator.selection.figures import Figures, MeasuredFigures
from orchestrator.selection.select import OBJECTIVES, Candidate, ProfilePlan, select

__all__ = ["OBJECTIVES", "Candidate", "Figures", "MeasuredFigures", "ProfilePlan", "select"]
