"""``edgefleet telemetry MODEL``: measured figures per (profile, variant)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from edgefleet.orchestrator.cli.common import DEFAULT_SERVER, JsonFlag, ProfilesOpt, ServerOpt, client
from edgefleet.orchestrator.cli.output import console, errors_to_exit_codes, print_json, table
from edgefleet.orchestrator.cli.render import fmt_energy, fmt_seconds


def telemetry(
    model: Annotated[str, typer.Argument(help="Model family.")],
    profile: ProfilesOpt = [],  # noqa: B006
    server: ServerOpt = DEFAULT_SERVER,
    json_out: JsonFlag = False,
) -> None:
    """What devices measured: energy per inference (with its method), latency, accuracy, vs the estimate."""
    with errors_to_exit_codes(), client(server) as api:
        rows = [r for p in dict.fromkeys(profile or [""]) for r in api.telemetry(model, p)]
    if json_out:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    table_rows = [
        (
            r.profile,
            f"{r.variant_id[:12]} {r.recipe}",
            f"{r.windows} / {r.devices}",
            str(r.inferences),
            f"{fmt_energy(r.energy_j)} ± {fmt_energy(r.energy_sigma_j)} ({r.measure})" if r.windows else "-",
            fmt_energy(r.gross_j) if r.gross_j is not None else "-",
            fmt_energy(r.dynamic_j) if r.dynamic_j is not None else "-",
            f"{r.energy_kind}: {', '.join(r.energy_methods)}",
            fmt_seconds(r.latency_p95_s),
            f"{r.correct / r.scored:.2%} of {r.scored} distinct" if r.scored else "-",
            "-" if r.correction is None else f"x{r.correction:.3g}",
        )
        for r in rows
    ]
    cols = [
        "profile",
        "variant",
        "windows / devices",
        "inferences",
        "energy/inference",
        "gross",
        "dynamic",
        "method",
        "p95",
        "accuracy",
        "measured/estimated",
    ]
    console().print(table(f"telemetry for {model}", cols, table_rows))
