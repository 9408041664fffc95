"""``edgefleet plan`` and ``edgefleet profiles ...``."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from edgefleet.orchestrator.cli.common import (
    DEFAULT_SERVER,
    JsonFlag,
    LabelOpt,
    ServerOpt,
    client,
    parse_labels,
)
from edgefleet.orchestrator.cli.estimators import estimators_dict, print_estimators
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, plural, print_json, table
from edgefleet.orchestrator.cli.render import field_rows, fmt_bytes, fmt_energy, fmt_seconds
from edgefleet.orchestrator.profiles import Profile, load_profile_file
from edgefleet.orchestrator.selection import Candidate, Figures, ProfilePlan

profiles_app = typer.Typer(help="Device profiles: hardware, power model and budgets.", no_args_is_help=True)


def plan_dict(plan: ProfilePlan, *, explain: bool = False) -> dict[str, Any]:
    def cand(c: Candidate) -> dict[str, Any]:
        return {
            **dataclasses.asdict(c.variant),
            "figures": dataclasses.asdict(c.figures),
            "feasible": c.feasible,
            "pareto": c.pareto,
            "reasons": list(c.reasons),
            "violation": c.violation,
        }

    out = {
        "profile": plan.profile,
        "objective": plan.objective,
        "chosen": None if plan.chosen is None else cand(plan.chosen),
        "least_violating": None if plan.least_violating is None else cand(plan.least_violating),
        "summary": plan.summary,
        "compared_kinds": list(plan.compared_kinds),
        "comparison": plan.comparison,
        "candidates": [cand(c) for c in plan.candidates],
    }
    if explain:
        out["estimators"] = None if plan.estimators is None else estimators_dict(plan.estimators)
    return out


_KIND_LABEL = {
    "measured": "measured",
    "estimated-on-device": "on-device est.",
    "learnt": "learnt",
    "prior": "prior",
}


def _energy_cell(f: Figures) -> str:
    label = _KIND_LABEL.get(f.energy_figure, f.energy_figure)
    if f.energy_error is not None:
        label += f" ±{math.expm1(f.energy_error):.0%}"
    return f"{fmt_energy(f.energy_j)} ({label})"


def _row(plan: ProfilePlan, c: Candidate) -> tuple[str | Text, ...]:
    f = c.figures
    if plan.chosen is not None and c.variant.variant_id == plan.chosen.variant.variant_id:
        status = Text("CHOSEN", style="bold green")
    elif c.feasible:
        status = Text("feasible")
    else:
        status = Text("; ".join(c.reasons), style="red")
    return (
        c.variant.short_id,
        c.variant.base_name,
        c.variant.recipe,
        _energy_cell(f),
        "-" if f.accuracy is None else f"{f.accuracy:.2%}",
        f"{fmt_seconds(f.latency_p95_s)} ({_KIND_LABEL.get(f.latency_figure, f.latency_figure)})",
        fmt_bytes(f.size_bytes),
        fmt_bytes(f.peak_memory_bytes),
        "★" if c.pareto else "",
        status,
    )


_PLAN_COLS = ("variant", "base", "recipe", "energy", "accuracy", "p95", "size", "peak mem", "pareto", "why")
#: A number standing alone (not part of a word like "float32" or "fp32"), with its unit.
_NUMBER = re.compile(r"(?<![\w.])\d[\d.,]*(?:\s?(?:%|pp|B|mJ|µJ|ms|µs))?")


def _reason_group(reason: str) -> tuple[str, str]:
    """("accuracy … < floor 93.00%", "91.21%"): the reason with the variant's own figures left out (what
    is compared with the limit, before '<' or '>'), and the variant's first figure."""
    compare = re.search(r" [<>] ", reason)
    head, rest = (reason[: compare.start()], reason[compare.start() :]) if compare else (reason, "")
    value = _NUMBER.search(head)
    return _NUMBER.sub("…", head) + rest, value.group(0) if value else ""


def print_plan(out: Console, p: ProfilePlan) -> None:
    """One profile's plan for people: the chosen variant, the Pareto front and the other feasible
    variants in a table; the rejected ones (off the front) grouped by their first reason, with the
    figure that broke the limit."""
    chosen = p.chosen.variant.variant_id if p.chosen is not None else None
    first = sorted(
        (c for c in p.candidates if c.pareto or c.feasible),
        key=lambda c: (c.variant.variant_id != chosen, not c.pareto, not c.feasible),
    )
    title = Text.assemble(
        f"{p.profile} ({p.objective}): ",
        f"{p.chosen.variant}" if p.chosen else ("nothing is feasible", "bold red"),
    )
    out.print(table(title, _PLAN_COLS, [_row(p, c) for c in first]))
    groups: dict[str, list[str]] = {}
    for c in p.candidates:
        if c.pareto or c.feasible:
            continue
        label, value = _reason_group(c.reasons[0])
        more = f" +{len(c.reasons) - 1}" if len(c.reasons) > 1 else ""
        figure = f" {value}" if value else ""
        groups.setdefault(label, []).append(f"{c.variant.base_name}/{c.variant.recipe}{figure}{more}")
    if groups:
        rows = [
            (label, str(len(v)), ", ".join(v))
            for label, v in sorted(groups.items(), key=lambda g: -len(g[1]))
        ]
        rejected = sum(len(v) for v in groups.values())
        out.print(
            table(f"{rejected} rejected (first reason; +N: more reasons)", ("reason", "n", "variants"), rows)
        )


def plan(
    model: Annotated[str, typer.Argument(help="Model family.")],
    profile: Annotated[list[str], typer.Option("--profile", "-p", help="Profile(s); default: all.")] = [],  # noqa: B006
    objective: Annotated[str, typer.Option(help="min-energy (default) or max-accuracy.")] = "min-energy",
    label: LabelOpt = [],  # noqa: B006
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also show each profile's estimators: fitted coefficients, residual, leave-one-out error "
            "and rank correlation before (the prior) and after learning.",
        ),
    ] = False,
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """The best variant per profile, the Pareto front (★) and why every other variant lost.

    Each figure says where it comes from: measured on devices of the profile, estimated on them (no
    sensor: CPU time x power), learnt (the profile's model fitted on what was measured, with its
    held-out error), or the prior (op count / energy per MAC)."""
    with errors_to_exit_codes(), client(server) as api:
        plans = api.plan(model, tuple(profile), objective, labels=parse_labels(label))
    if json_out:
        print_json({"model": model, "plans": [plan_dict(p, explain=explain) for p in plans]})
        return
    out = console()
    for p in plans:
        print_plan(out, p)
        out.print(p.summary, highlight=False, markup=False)
        out.print(f"  figures: {p.comparison}", highlight=False, markup=False)
        if p.chosen:
            out.print(f"  energy source: {p.chosen.figures.energy_source}", highlight=False, markup=False)
        if explain and p.estimators is not None:
            print_estimators(out, p.profile, p.estimators)
        out.print()


def profile_dict(p: Profile) -> dict[str, Any]:
    return dataclasses.asdict(p)


def _profile_row(p: Profile) -> tuple[str, ...]:
    hw, b = p.hardware, p.budgets
    if hw.sram_bytes:
        mem = f"SRAM {fmt_bytes(hw.sram_bytes)}, flash {fmt_bytes(hw.flash_bytes)}"
    else:
        mem = fmt_bytes(hw.ram_bytes)
    return (
        p.name,
        p.runtime + (" (full-int)" if p.full_integer_only else ""),
        f"{hw.cores}",
        mem,
        f"{p.power.idle_watts:g}-{p.power.active_watts:g} W",
        f"{b.accuracy_floor:.0%} (drop ≤{b.max_accuracy_drop * 100:g} pp)",
        fmt_energy(b.max_energy_joules),
        fmt_seconds(b.max_latency_p95_seconds),
        fmt_bytes(b.max_model_bytes),
        fmt_bytes(b.max_peak_memory_bytes),
        p.origin,
    )


_PROFILE_COLS = [
    "profile",
    "runtime",
    "cores",
    "memory",
    "power",
    "accuracy floor",
    "max energy",
    "max p95",
    "max model",
    "max peak mem",
    "origin",
]


@profiles_app.command("list")
def profiles_list(server: ServerOpt = DEFAULT_SERVER, json_out: JsonFlag = False) -> None:
    """The profiles the orchestrator knows (built-in and the user's)."""
    with errors_to_exit_codes(), client(server) as api:
        profiles = api.list_profiles()
    if json_out:
        print_json([profile_dict(p) for p in profiles])
        return
    rows = [_profile_row(p) for p in profiles]
    console().print(table(plural(len(profiles), "profile"), _PROFILE_COLS, rows))


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str, typer.Argument()], server: ServerOpt = DEFAULT_SERVER, json_out: JsonFlag = False
) -> None:
    """One profile with its power model and the sources of its figures."""
    with errors_to_exit_codes(), client(server) as api:
        p = api.get_profile(name)
    if json_out:
        print_json(profile_dict(p))
        return
    rows = field_rows({k: v for k, v in profile_dict(p).items() if k != "sources"})
    rows += [("source", s) for s in p.sources]
    console().print(table(f"profile {p.name}", ["field", "value"], rows))


@profiles_app.command("validate")
def profiles_validate(
    files: Annotated[list[Path], typer.Argument(help="Profile TOML files.")], json_out: JsonFlag = False
) -> None:
    """Check profile files locally (no orchestrator needed); exit 2 on the first invalid one."""
    with errors_to_exit_codes():
        profiles = [load_profile_file(f) for f in files]
    if json_out:
        print_json([profile_dict(p) for p in profiles])
        return
    for f, p in zip(files, profiles, strict=True):
        console().print(f"{f}: ok (profile {p.name}, {p.runtime})", highlight=False, markup=False)
