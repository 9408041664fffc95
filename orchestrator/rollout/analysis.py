"""Per-window verdicts as pure functions (reference: rollback-analysis.md, section 4).

Accuracy: c correct of n labelled samples, Wilson score bounds, one-sided z.
    NODATA when n < n_min = ceil(z^2 A (1 - A) / delta^2); FAIL when the upper bound < the floor A;
    PASS when the lower bound >= A; INCONCLUSIVE otherwise. Critical: the z=3.09 upper bound < A - delta.
Energy and p95 latency: over the last k windows of ln(value), a one-sided Student t bound against ln(budget).
    NODATA with fewer than k windows of the minimum inferences; FAIL when the lower bound > ln(budget);
    PASS when the upper bound <= ln(budget). Critical: the 99.9 % lower bound > ln(critical_factor x budget).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "AnalysisDefaults",
    "Status",
    "Verdict",
    "accuracy_verdict",
    "combine",
    "log_bound_verdict",
    "n_min",
    "t_quantile",
    "wilson",
]

Status = Literal["PASS", "FAIL", "INCONCLUSIVE", "NODATA"]

# One-sided Student t quantiles by degrees of freedom (1..30), for 95 % and 99.9 %.
_T95 = (
    6.314,
    2.920,
    2.353,
    2.132,
    2.015,
    1.943,
    1.895,
    1.860,
    1.833,
    1.812,
    1.796,
    1.782,
    1.771,
    1.761,
    1.753,
    1.746,
    1.740,
    1.734,
    1.729,
    1.725,
    1.721,
    1.717,
    1.714,
    1.711,
    1.708,
    1.706,
    1.703,
    1.701,
    1.699,
    1.697,
)
_T999 = (
    318.3,
    22.33,
    10.21,
    7.173,
    5.893,
    5.208,
    4.785,
    4.501,
    4.297,
    4.144,
    4.025,
    3.930,
    3.852,
    3.787,
    3.733,
    3.686,
    3.646,
    3.610,
    3.579,
    3.552,
    3.527,
    3.505,
    3.485,
    3.467,
    3.450,
    3.435,
    3.421,
    3.408,
    3.396,
    3.385,
)


@dataclass(frozen=True, slots=True)
class AnalysisDefaults:
    """Pinned by tests; a policy may override them."""

    z: float = 1.645  # one-sided 95 %
    z_critical: float = 3.09  # one-sided 99.9 %
    accuracy_delta: float = 0.05  # smallest accuracy drop worth catching
    k_windows: int = 5  # windows in the energy/latency bound
    min_inferences: int = 50  # below this a window says nothing about energy per inference
    critical_factor: float = 2.0  # hard ceiling = budget x this
    fail_streak: int = 3  # consecutive FAIL windows that roll a device back
    pass_streak: int = 4  # consecutive PASS windows before a device counts as passed
    #: The most windows on each side of the saving against the incumbent (the newest): the evidence keeps
    #: growing while the candidate serves, up to this.
    saving_windows: int = 200
    #: What promotion asks of accuracy: "enough-samples" (at least n_min distinct samples and no breach: a
    #: floor one point under the true accuracy needs thousands of samples to be proven, more than a scoring
    #: split holds) or "proven" (the Wilson lower bound at or above the floor).
    accuracy_promote: str = "enough-samples"


@dataclass(frozen=True, slots=True)
class Verdict:
    metric: str
    status: Status
    rule: str
    stats: dict[str, float] = field(default_factory=dict)
    critical: bool = False


def t_quantile(df: int, level: float = 0.95) -> float:
    table = _T95 if level == 0.95 else _T999
    if df < 1:
        return math.inf
    if df <= len(table):
        return table[df - 1]
    return 1.645 if level == 0.95 else 3.09


def wilson(correct: int, n: int, z: float) -> tuple[float, float]:
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


def n_min(floor: float, d: AnalysisDefaults = AnalysisDefaults()) -> int:
    return math.ceil(d.z**2 * floor * (1 - floor) / d.accuracy_delta**2)


def accuracy_verdict(correct: int, n: int, floor: float, d: AnalysisDefaults = AnalysisDefaults()) -> Verdict:
    need = n_min(floor, d)
    if not (isinstance(correct, int) and isinstance(n, int)) or n < need or correct < 0 or correct > n:
        return Verdict("accuracy", "NODATA", "accuracy.below_n_min", {"c": correct, "n": n, "n_min": need})
    low, up = wilson(correct, n, d.z)
    stats = {"c": correct, "n": n, "p_hat": correct / n, "lower": low, "upper": up, "z": d.z, "floor": floor}
    if up < floor:
        _, up_crit = wilson(correct, n, d.z_critical)
        critical = up_crit < floor - d.accuracy_delta
        # the bound the critical rule judged: the 99.9 % upper bound against the floor less the delta
        stats |= {
            "z_critical": d.z_critical,
            "upper_critical": up_crit,
            "critical_floor": floor - d.accuracy_delta,
        }
        return Verdict("accuracy", "FAIL", "accuracy.wilson_ucb_below_floor", stats, critical)
    if low >= floor:
        return Verdict("accuracy", "PASS", "accuracy.wilson_lcb_at_or_above_floor", stats)
    return Verdict("accuracy", "INCONCLUSIVE", "accuracy.wilson_interval_spans_floor", stats)


def log_bound_verdict(
    metric: str, values: Sequence[float], budget: float, d: AnalysisDefaults = AnalysisDefaults()
) -> Verdict:
    """``values``: per-window figures (newest last) of windows that met the minimum inference count."""
    usable = [v for v in values if isinstance(v, float | int) and math.isfinite(v) and v > 0][-d.k_windows :]
    if len(usable) < d.k_windows or not (math.isfinite(budget) and budget > 0):
        return Verdict(
            metric, "NODATA", f"{metric}.fewer_than_k_windows", {"k": d.k_windows, "have": len(usable)}
        )
    logs = [math.log(v) for v in usable]
    k = len(logs)
    mean, s = statistics.fmean(logs), statistics.stdev(logs)
    t = t_quantile(k - 1)
    lcb, ucb = mean - t * s / math.sqrt(k), mean + t * s / math.sqrt(k)
    limit = math.log(budget)
    stats = {
        "mean": math.exp(mean),
        "mean_log": mean,
        "s": s,
        "k": k,
        "t": t,
        "lcb": math.exp(lcb),
        "ucb": math.exp(ucb),
        "budget": budget,
    }
    if lcb > limit:
        t_crit = t_quantile(k - 1, 0.999)
        lcb_crit = mean - t_crit * s / math.sqrt(k)
        critical = lcb_crit > math.log(budget * d.critical_factor)
        # the bound the critical rule judged: the 99.9 % lower bound against budget x critical_factor
        stats |= {
            "t_critical": t_crit,
            "lcb_critical": math.exp(lcb_crit),
            "critical_limit": budget * d.critical_factor,
        }
        return Verdict(metric, "FAIL", f"{metric}.t_lcb_above_budget", stats, critical)
    if ucb <= limit:
        return Verdict(metric, "PASS", f"{metric}.t_ucb_within_budget", stats)
    return Verdict(metric, "INCONCLUSIVE", f"{metric}.t_interval_spans_budget", stats)


def combine(verdicts: Sequence[Verdict]) -> Status:
    """A window FAILs if any metric fails, PASSes if all pass, is NODATA if none has data."""
    statuses = {v.status for v in verdicts}
    if "FAIL" in statuses:
        return "FAIL"
    if statuses == {"PASS"}:
        return "PASS"
    if statuses <= {"NODATA"}:
        return "NODATA"
    return "INCONCLUSIVE"
