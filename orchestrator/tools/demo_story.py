"""What the demo shows, step by step: the plan from estimates, the canaries' measurements beside them, the
plan again from measurements, rollouts with their realised saving, a breach rolled back, and a summary per
profile. Each step prints for people and records the same figures (with variant names) for ``--json``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console

from edgefleet.core.errors import FailedPrecondition
from edgefleet.orchestrator.cli.output import table
from edgefleet.orchestrator.cli.render import fmt_energy, fmt_seconds
from edgefleet.orchestrator.client import AdminClient
from edgefleet.orchestrator.client.views import RolloutView, TelemetryView

__all__ = ["Story"]

FINAL = ("succeeded", "rolled_back", "aborted", "kept")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _pace(rows: Sequence[dict[str, Any]]) -> str:
    paces = [float(r.get("pace_per_second") or 0.0) for r in rows if r.get("measured_j") is not None]
    if not paces or max(paces) == 0:
        return "back to back: nothing served"
    return f"paced like serving: {min(paces):.0f}-{max(paces):.0f} inferences/s"


def _energy(row: dict[str, Any]) -> str:
    if row.get("measured_j") is None:
        return "-"
    return f"{fmt_energy(row['measured_j'])} ± {fmt_energy(row['sigma_j'] or 0.0)}"


class Story:
    def __init__(self, api: AdminClient, out: Console, result: dict[str, Any]) -> None:
        self.api, self.out, self.result = api, out, result
        self.names = {c.variant_id: f"{c.base_name} {c.recipe}" for c in api.list_variants("digits")}
        result["variants"] = dict(self.names)

    def name(self, variant_id: str) -> str:
        return self.names.get(variant_id, variant_id[:12])

    def say(self, text: str) -> None:
        self.out.print(text, highlight=False)

    # ---- plans ----
    def plan(self, title: str, key: str) -> dict[str, str]:
        """The plan per profile: chosen variant, its energy figure and kind, and why the others lost
        (named, with the threshold they missed). Returns profile -> chosen variant id."""
        rows, chosen, lost_lines = [], {}, []
        for p in self.api.plan("digits"):
            c = p.chosen
            lost = [x for x in p.candidates if not x.feasible]
            if lost:
                named = "; ".join(f"{self.name(x.variant.variant_id)}: {x.reasons[0]}" for x in lost)
                lost_lines.append(f"  {p.profile}, {len(lost)} rejected: {named}")
            if c is None:
                rows.append((p.profile, "nothing feasible", "-", "-", "-", str(len(lost))))
                continue
            f = c.figures
            chosen[p.profile] = c.variant.variant_id
            rows.append(
                (
                    p.profile,
                    self.name(c.variant.variant_id),
                    fmt_energy(f.energy_j),
                    f.energy_figure,
                    _pct(f.accuracy),
                    str(len(lost)),
                )
            )
            self.result.setdefault(key, {})[p.profile] = {
                "variant_id": c.variant.variant_id,
                "variant": self.name(c.variant.variant_id),
                "energy_j": f.energy_j,
                "figure": f.energy_figure,
                "accuracy": f.accuracy,
                "rejected": {self.name(x.variant.variant_id): list(x.reasons) for x in lost},
            }
        columns = ["profile", "chosen", "energy/inference", "figure", "accuracy", "rejected"]
        self.out.print(table(title, columns, rows))
        for line in lost_lines:
            self.say(line)
        return chosen

    # ---- rollouts ----
    def follow(
        self, rollout_ids: Sequence[str], timeout: float, every: float, *, benchmarks_only: bool = False
    ) -> dict[str, RolloutView]:
        """Until every rollout ended (or, ``benchmarks_only``, measured its candidates): progress lines, the
        benchmark tables as each benchmark ends, and the live telemetry every ``every`` seconds while
        waves run."""
        deadline, shown, told = time.monotonic() + timeout, 0.0, set()
        while time.monotonic() < deadline:
            views = {r: self.api.get_rollout(r) for r in rollout_ids}
            for r, v in views.items():
                if v.state != "benchmarking" and r not in told:
                    told.add(r)
                    self.benchmarked(v)
            if all(v.state in FINAL for v in views.values()):
                return views
            for v in views.values():  # no verdict in time (e.g. a saving the noise never settles): not a
                if v.state == "paused":  # success; the demo ends it and the devices go back to what they ran
                    self.say(f"  {v.rollout_id} paused without a verdict ({v.state_reason}): aborting it")
                    self.api.control_rollout(v.rollout_id, "abort", f"demo: paused: {v.state_reason}")
            if benchmarks_only and all(v.state != "benchmarking" for v in views.values()):
                return views
            if time.monotonic() - shown > every:
                shown = time.monotonic()
                for v in views.values():
                    states = ", ".join(f"{d.device_id.split('-')[0]}:{d.state}" for d in v.devices)
                    if v.state not in FINAL:
                        self.say(f"  {v.rollout_id} {v.state} wave {v.wave}/{v.waves_total} {states}")
                if any(v.state == "running" for v in views.values()):
                    self.telemetry("live telemetry (serving traffic)")
            time.sleep(0.5)
        raise FailedPrecondition(f"demo: rollouts {', '.join(rollout_ids)} did not finish in {timeout:.0f} s")

    def benchmarked(self, v: RolloutView) -> None:
        for e in self.api.events(kind="rollout.benchmarked", rollout_id=v.rollout_id):
            rows = []
            for c in e.details.get("candidates", []):
                est, meas = c.get("estimated_j"), c.get("measured_j")
                rows.append(
                    (
                        self.name(c["variant_id"]),
                        c.get("why", ""),
                        f"{fmt_energy(est)} ({c.get('estimate_kind', '')})" if est else "-",
                        f"{_energy(c)} ({c.get('kind', '')})" if meas is not None else "not measured",
                        f"x{meas / est:.2g}" if meas and est else "-",
                        fmt_seconds(c["latency_p95_s"]) if c.get("latency_p95_s") else "-",
                        _pct(c.get("accuracy")),
                    )
                )
            self.out.print(
                table(
                    f"{e.profile}: candidates measured on the canaries ({e.details.get('measure')} energy "
                    f"per inference, interleaved turns, {_pace(e.details.get('candidates', []))})",
                    ["candidate", "why", "estimated", "measured ± s.e.", "measured/est.", "p95", "accuracy"],
                    rows,
                )
            )
            self.say(f"  {e.message}")
            self.result.setdefault("benchmark", {})[e.profile] = {
                "job_id": e.details.get("job_id"),
                "chosen": self.name(str(e.details.get("chosen", ""))),
                "estimate_choice": self.name(str(e.details.get("estimate_choice", ""))),
                "kept_because": e.details.get("kept_because", ""),
                "candidates": [
                    {**c, "variant": self.name(c["variant_id"])} for c in e.details.get("candidates", [])
                ],
            }

    def outcome(self, profile: str, v: RolloutView) -> None:
        """One rollout's end: its state and, per device, the saving measured against its incumbent."""
        self.say(f"{profile}: rollout {v.rollout_id} [bold]{v.state}[/] {v.state_reason}")
        devices = {}
        for d in v.devices:
            if d.saving is not None:
                interval = (
                    f"[{d.saving_lower:.1%}, {d.saving_upper:.1%}]" if d.saving_lower is not None else ""
                )
                self.say(
                    f"  {d.device_id}: {fmt_energy(d.candidate_j or 0)} against "
                    f"{fmt_energy(d.incumbent_j or 0)} before: saving {d.saving:.1%} {interval} (95 %)"
                )
            devices[d.device_id] = {
                "state": d.state,
                "reason": d.reason,
                "saving": d.saving,
                "saving_lower": d.saving_lower,
                "saving_upper": d.saving_upper,
                "incumbent_j": d.incumbent_j,
                "candidate_j": d.candidate_j,
            }
        self.result.setdefault("rollouts", {})[profile] = {
            "rollout_id": v.rollout_id,
            "state": v.state,
            "reason": v.state_reason,
            "variant": self.name(v.variants.get(profile, "")),
            "devices": devices,
        }

    # ---- telemetry ----
    def telemetry(self, title: str) -> list[TelemetryView]:
        rows, views = [], [t for t in self.api.telemetry("digits") if t.windows]
        for t in views:
            rows.append(
                (
                    t.profile,
                    self.name(t.variant_id),
                    f"{fmt_energy(t.energy_j)} ± {fmt_energy(t.energy_sigma_j)}",
                    f"{t.measure}, {t.energy_kind}: {', '.join(t.energy_methods)}",
                    fmt_seconds(t.latency_p95_s),
                    f"{t.correct / t.scored:.1%} of {t.scored}" if t.scored else "-",
                    t.windows,
                )
            )
        self.out.print(
            table(
                title,
                ["profile", "variant", "energy/inference", "measure", "p95", "accuracy", "windows"],
                rows,
            )
        )
        return views

    # ---- the end ----
    def summary(self, baseline: str, profiles: Iterable[str]) -> None:
        """Per profile: what runs, energy and accuracy before (the float32 baseline) and after, measured,
        the realised saving and the rollbacks."""
        runs: dict[str, set[str]] = {}
        for d in self.api.list_devices():
            if d.active is not None:
                runs.setdefault(d.profile, set()).add(d.active.variant_id)
        figures = {(t.profile, t.variant_id): t for t in self.api.telemetry("digits")}
        rolled = [e for e in self.api.events(kind="rollout.decision") if e.rule]
        rows = []
        for profile in profiles:
            now = sorted(runs.get(profile, set()))
            before, after = figures.get((profile, baseline)), [figures.get((profile, v)) for v in now]
            outcome = self.result.get("rollouts", {}).get(profile, {})
            savings = [
                d["saving"] for d in outcome.get("devices", {}).values() if d.get("saving") is not None
            ]
            back = sorted({e.rule for e in rolled if e.profile == profile})
            row = {
                "runs": [self.name(v) for v in now],
                "before": _figure(before),
                "after": [_figure(a) for a in after],
                "saving": savings,
                "rollout": outcome.get("state", ""),
                "why": outcome.get("reason", ""),
                "rollbacks": back,
            }
            self.result.setdefault("summary", {})[profile] = row
            rows.append(
                (
                    profile,
                    ", ".join(row["runs"]) or "-",
                    _text(before),
                    "; ".join(_text(a) for a in after) or "-",
                    _saving_text(outcome),
                    ", ".join(back) or "-",
                )
            )
        self.out.print(
            table(
                "summary: float32 baseline before, what runs after (measured on the devices)",
                ["profile", "runs now", "before", "after", "saving", "rollbacks"],
                rows,
            )
        )
        for profile, row in self.result.get("summary", {}).items():
            if row["why"]:
                self.say(f"  {profile}: {row['rollout']}: {row['why']}")


def _saving_text(outcome: dict[str, Any]) -> str:
    """The realised saving per device (95 % interval), or what became of the rollout."""
    parts = []
    for d in outcome.get("devices", {}).values():
        if d.get("saving") is not None and outcome.get("state") == "succeeded":
            low, high = d.get("saving_lower"), d.get("saving_upper")
            interval = f" [{low:.0%}, {high:.0%}]" if low is not None and high is not None else ""
            parts.append(f"{d['saving']:.0%}{interval}")
    return ", ".join(parts) or outcome.get("state", "-") or "-"


def _figure(t: TelemetryView | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "energy_j": t.energy_j,
        "sigma_j": t.energy_sigma_j,
        "measure": t.measure,
        "kind": t.energy_kind,
        "methods": list(t.energy_methods),
        "accuracy": t.correct / t.scored if t.scored else None,
        "scored": t.scored,
        "windows": t.windows,
    }


def _text(t: TelemetryView | None) -> str:
    if t is None:
        return "-"
    acc = f", {t.correct / t.scored:.1%} right" if t.scored else ""
    return f"{fmt_energy(t.energy_j)} ± {fmt_energy(t.energy_sigma_j)} ({t.energy_kind}{acc})"
