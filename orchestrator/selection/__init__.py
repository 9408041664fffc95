"""Selection: the best variant per device profile, and why every other variant lost."""

from edgefleet.orchestrator.selection.figures import Figures, MeasuredFigures
from edgefleet.orchestrator.selection.select import OBJECTIVES, Candidate, ProfilePlan, select

__all__ = ["OBJECTIVES", "Candidate", "Figures", "MeasuredFigures", "ProfilePlan", "select"]
