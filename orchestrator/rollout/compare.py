"""Candidate vs incumbent on the same device (pure functions; reference: rollback-analysis.md, section 4).

Energy saving: the candidate's per-window energies (log) since it began serving against the incumbent's on
this device before it switched, one-sided Welch t bounds on the difference of means. Every window counts
(the newest ``saving_windows`` of each side): a small saving that a few noisy windows cannot show is shown
by more of them, so the interval narrows while the candidate serves instead of staying as wide as k windows
make it. PASS ``energy.saving_vs_incumbent`` when the
upper bound is below 0 (the candidate is cheaper, 95 % one-sided); FAIL ``energy.no_saving_vs_incumbent``
when the lower bound is above ln(1 - min_saving) (we are that sure the saving is smaller than the least worth
deploying, or there is none); INCONCLUSIVE between; NODATA with fewer than k windows on either side.

Accuracy against the incumbent: both were scored on the same samples of the scoring split, so the
comparison is paired by sample (only discordant samples inform it): the difference of the two accuracies
with a paired Wald bound (Newcombe 1998's methods agree closely at these sizes). FAIL
``accuracy.inferior_to_incumbent`` when its upper bound is below -margin (the candidate is worse by more
than the profile's max accuracy drop); PASS when the lower bound is at least -margin. This guard only ever
fails a window: with a few hundred samples, non-inferiority within one point can rarely be proven, and
the absolute accuracy floor is judged on its own.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from edgefleet.core.samples import count, intersect
from edgefleet.orchestrator.rollout.analysis import AnalysisDefaults, Verdict, t_quantile

__all__ = ["paired_accuracy_verdict", "saving_verdict"]


def saving_verdict(
    candidate: Sequence[float], incumbent: Sequence[float], min_saving: float, d: AnalysisDefaults
) -> Verdict:
    """``candidate``/``incumbent``: per-window energies per inference (same measure, windows that met the
    minimum inference count), newest last; the newest ``d.saving_windows`` of each are used."""
    cand = [math.log(v) for v in candidate if v > 0 and math.isfinite(v)][-d.saving_windows :]
    inc = [math.log(v) for v in incumbent if v > 0 and math.isfinite(v)][-d.saving_windows :]
    if len(cand) < d.k_windows or len(inc) < d.k_windows:
        stats: dict[str, float] = {
            "k": d.k_windows,
            "candidate_windows": len(cand),
            "incumbent_windows": len(inc),
        }
        return Verdict("saving", "NODATA", "energy.saving_fewer_than_k_windows", stats)
    mc, mi = statistics.fmean(cand), statistics.fmean(inc)
    vc, vi = statistics.variance(cand) / len(cand), statistics.variance(inc) / len(inc)
    se = math.sqrt(vc + vi)
    # Welch-Satterthwaite degrees of freedom
    df = (
        (vc + vi) ** 2 / (vc**2 / (len(cand) - 1) + vi**2 / (len(inc) - 1))
        if se > 0
        else len(cand) + len(inc) - 2
    )
    t = t_quantile(max(1, int(df)))
    diff = mc - mi
    lcb, ucb = diff - t * se, diff + t * se
    stats = {
        "candidate_j": math.exp(mc),
        "incumbent_j": math.exp(mi),
        "saving": 1 - math.exp(diff),
        "saving_lower": 1 - math.exp(ucb),
        "saving_upper": 1 - math.exp(lcb),
        "candidate_windows": len(cand),
        "incumbent_windows": len(inc),
        "t": t,
        "df": df,
        "min_saving": min_saving,
    }
    if ucb < 0:
        return Verdict("saving", "PASS", "energy.saving_vs_incumbent", stats)
    if lcb > math.log(1 - min_saving):
        return Verdict("saving", "FAIL", "energy.no_saving_vs_incumbent", stats)
    return Verdict("saving", "INCONCLUSIVE", "energy.saving_interval_spans_minimum", stats)


def paired_accuracy_verdict(
    cand_scored: bytes,
    cand_right: bytes,
    inc_scored: bytes,
    inc_right: bytes,
    margin: float,
    d: AnalysisDefaults,
) -> Verdict:
    both = intersect(cand_scored, inc_scored)
    n = count(both)
    if n == 0:
        return Verdict("accuracy_vs_incumbent", "NODATA", "accuracy.no_common_samples", {"n": 0.0})
    cr, ir = intersect(cand_right, both), intersect(inc_right, both)
    only_c = count(cr) - count(intersect(cr, ir))  # right only by the candidate
    only_i = count(ir) - count(intersect(cr, ir))  # right only by the incumbent
    diff = (only_c - only_i) / n
    var = max((only_c + only_i) / n**2 - diff**2 / n, 0.0)
    half = d.z * math.sqrt(var) + 1 / n  # continuity correction: a single discordant sample is no proof
    stats: dict[str, float] = {
        "n": n,
        "candidate_accuracy": count(cr) / n,
        "incumbent_accuracy": count(ir) / n,
        "difference": diff,
        "lower": diff - half,
        "upper": diff + half,
        "margin": margin,
        "discordant": only_c + only_i,
    }
    if diff + half < -margin:
        return Verdict("accuracy_vs_incumbent", "FAIL", "accuracy.inferior_to_incumbent", stats)
    if diff - half >= -margin:
        return Verdict("accuracy_vs_incumbent", "PASS", "accuracy.non_inferior_to_incumbent", stats)
    return Verdict("accuracy_vs_incumbent", "INCONCLUSIVE", "accuracy.vs_incumbent_spans_margin", stats)
