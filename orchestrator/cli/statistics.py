"""A decision's statistics as people read them (``edgefleet events``): the figure, the bound it was judged
by and the limit, in units; the critical (99.9 %) bound too when the rule recorded one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edgefleet.orchestrator.cli.render import fmt_energy, fmt_seconds

__all__ = ["fmt_statistics"]


def _unit(rule: str) -> Callable[[float], str]:
    metric = rule.split(".", 1)[0]
    if metric == "energy":
        return fmt_energy
    if metric == "latency":
        return fmt_seconds
    return lambda v: f"{v:.4g}"


def _bound(st: Mapping[str, float], u: Callable[[float], str], critical: bool) -> str:
    """A log-mean t bound against a budget (energy or latency per window)."""
    text = f"mean {u(st['mean'])} over {int(st['k'])} windows; 95% interval [{u(st['lcb'])}, {u(st['ucb'])}]"
    text += f" vs budget {u(st['budget'])}"
    if "lcb_critical" in st:
        above = ">" if critical else "<="
        text += (
            f"; 99.9% lower bound {u(st['lcb_critical'])} {above} critical limit {u(st['critical_limit'])}"
            + (" (critical)" if critical else "")
        )
    return text


def _accuracy(st: Mapping[str, float], critical: bool) -> str:
    text = (
        f"accuracy {st['p_hat']:.1%} ({int(st['c'])} of {int(st['n'])}); 95% interval "
        f"[{st['lower']:.1%}, {st['upper']:.1%}] vs floor {st['floor']:.1%}"
    )
    if "upper_critical" in st:
        below = "<" if critical else ">="
        text += f"; 99.9% upper bound {st['upper_critical']:.1%} {below} {st['critical_floor']:.1%}" + (
            " (critical)" if critical else ""
        )
    return text


def _saving(st: Mapping[str, float]) -> str:
    return (
        f"saving {st['saving']:.0%} [{st['saving_lower']:.0%}, {st['saving_upper']:.0%}] "
        f"({fmt_energy(st['candidate_j'])} vs {fmt_energy(st['incumbent_j'])} of the incumbent); "
        f"least worth deploying {st['min_saving']:.0%}"
    )


def _versus(st: Mapping[str, float]) -> str:
    return (
        f"{st['candidate_accuracy']:.1%} vs the incumbent's {st['incumbent_accuracy']:.1%} on "
        f"{int(st['n'])} common samples; difference [{st['lower']:+.1%}, {st['upper']:+.1%}] "
        f"vs margin -{st['margin']:.1%}"
    )


def _plain(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def fmt_statistics(rule: str, stats: Mapping[str, Any] | None, *, critical: bool = False) -> str:
    """One readable line for a decision's ``statistics``; ``-`` when there are none."""
    if not stats:
        return "-"
    keys = set(stats)
    try:
        if {"mean", "lcb", "ucb", "budget", "k"} <= keys:
            return _bound(stats, _unit(rule), critical)
        if {"p_hat", "lower", "upper", "floor", "c", "n"} <= keys:
            return _accuracy(stats, critical)
        if {"saving", "saving_lower", "saving_upper", "candidate_j", "incumbent_j", "min_saving"} <= keys:
            return _saving(stats)
        if {"candidate_accuracy", "incumbent_accuracy", "lower", "upper", "margin", "n"} <= keys:
            return _versus(stats)
    except (TypeError, ValueError):  # a figure that is not a number: shown as recorded
        pass
    return ", ".join(f"{k} {_plain(v)}" for k, v in stats.items())
