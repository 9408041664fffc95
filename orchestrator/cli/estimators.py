"""``edgefleet plan --explain``: each profile's estimators, for people and for scripts."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rich.console import Console
from rich.markup import escape

from edgefleet.orchestrator.cli.output import table
from edgefleet.orchestrator.selection.figures import Estimators
from edgefleet.orchestrator.selection.learned import LooError, TargetFit

__all__ = ["estimators_dict", "print_estimators"]


def _pct(log_err: float | None) -> float | None:
    """A natural-log error as a percentage (exp(e) - 1): 0.18 -> 19.7."""
    return None if log_err is None else round(math.expm1(log_err) * 100, 1)


def _error_dict(e: LooError) -> dict[str, Any]:
    return {
        **dataclasses.asdict(e),
        "median_pct_error": _pct(e.median_abs_log),
        "max_pct_error": _pct(e.max_abs_log),
    }


def _fit_dict(f: TargetFit) -> dict[str, Any]:
    d = dataclasses.asdict(f)
    d["residual_pct"] = _pct(f.residual)
    d["before"], d["after"] = _error_dict(f.before), _error_dict(f.after)
    return d


def estimators_dict(e: Estimators) -> dict[str, Any]:
    """Coefficients, residual, leave-one-out error and rank correlation: before = the prior scaled to
    the other measured variants, after = the learnt model, both held out."""
    return {"energy": _fit_dict(e.energy), "latency": _fit_dict(e.latency)}


def _p(log_err: float | None) -> str:
    pct = _pct(log_err)
    return "-" if pct is None else f"{pct:.0f}%"


def _rho(r: float | None) -> str:
    return "-" if r is None else f"{r:+.2f}"


def _fit_lines(f: TargetFit) -> list[str]:
    used = "[bold]learnt[/]" if f.kind == "learnt" else "[bold]prior[/]"
    trained = f", fitted on {escape(', '.join(f.trained_on))} figures" if f.trained_on else ""
    lines = [f"  {f.target}: {used} — {escape(f.note)}{trained}"]
    if f.variants >= 2:
        lines.append(
            f"    held out (leave one variant out, {f.after.points} variants): median |error| "
            f"{_p(f.before.median_abs_log)} -> {_p(f.after.median_abs_log)}, "
            f"max {_p(f.before.max_abs_log)} -> {_p(f.after.max_abs_log)}, "
            f"Spearman {_rho(f.before.spearman)} -> {_rho(f.after.spearman)} "
            "(prior -> learnt)"
        )
    if f.residual is not None:
        lines.append(f"    in-sample residual {_p(f.residual)}; prior scale x{f.prior_scale:.3g}")
    return lines


def print_estimators(out: Console, profile: str, e: Estimators) -> None:
    out.print(
        f"[bold]{escape(profile)}: estimators[/] (log y = Σ terms; ridge toward all-zero)", highlight=False
    )
    for f in (e.energy, e.latency):
        for line in _fit_lines(f):
            out.print(line, highlight=False)
    fits = (e.energy, e.latency)
    if not any(f.coefficients for f in fits):
        return
    names = list(dict.fromkeys(c.name for f in fits for c in f.coefficients))
    by_name = [{c.name: c for c in f.coefficients} for f in fits]
    rows = []
    for name in names:
        cells = []
        for terms in by_name:
            c = terms.get(name)
            cells.append("-" if c is None else (f"{c.value:+.3f}" if c.fitted else f"0 ({c.note})"))
        rows.append((name, *cells))
    out.print(table(f"{profile}: coefficients (natural log)", ["term", "energy", "latency"], rows))
